// Routes of the media APIs (PutMedia, GetMedia, ListFragments, GetMediaForFragmentList). They answer
// 501 NotImplementedException until their handler files (put_media, get_media, archived_media) replace them.
#pragma once

#include "router.h"

namespace kinema::server {

void add_media_placeholder_routes(Router& router);

}  // namespace kinema::server
