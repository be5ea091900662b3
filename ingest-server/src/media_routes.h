// Routes of the streaming media APIs: PutMedia (POST/PUT chunked, or GET with a WebSocket upgrade) and
// GetMedia (POST chunked video/webm, or GET with a WebSocket upgrade). The HTTP session streams them (see
// media_transport.h); the handlers here only answer what cannot stream.
#pragma once

#include "router.h"

namespace kinema::server {

void add_media_routes(Router& router);

}  // namespace kinema::server
