// Routes of the archived-media family: POST /listFragments and POST /getMediaForFragmentList, over the
// transport-independent functions of archived_media.h. ListFragments runs on the blocking-work pool (it
// reads the store). GetMediaForFragmentList is a streaming route: the HTTP session checks the request on
// the blocking pool (MediaService::prepare_fragment_list) and hands the connection to the GetMedia
// transport, which sends the fragments as a chunked body. Streams are looked up in the catalog and opened in
// the FragmentStore (keyed by stream name) on first use.
#pragma once

#include <kinema/storage/catalog.h>
#include <kinema/storage/fragment_store.h>

#include "router.h"

namespace kinema::server {

struct ArchivedMediaContext {
    storage::Catalog* catalog = nullptr;
    storage::FragmentStore* store = nullptr;
};

void add_archived_media_routes(Router& router, ArchivedMediaContext context);

}  // namespace kinema::server
