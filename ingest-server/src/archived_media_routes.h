// Routes of the archived-media family: POST /listFragments and POST /getMediaForFragmentList, over the
// transport-independent functions of archived_media.h. Both run on the blocking-work pool (they read the
// store). Streams are looked up in the catalog and opened in the FragmentStore (keyed by stream name) on
// first use.
#pragma once

#include <kinema/storage/catalog.h>
#include <kinema/storage/fragment_store.h>

#include "router.h"

namespace kinema::server {

struct ArchivedMediaContext {
    storage::Catalog* catalog = nullptr;
    storage::FragmentStore* store = nullptr;
    // GetMediaForFragmentList answers in one body: it stops (with KVS error tags) past this many bytes.
    std::size_t max_fragment_list_bytes = 256u << 20;
};

void add_archived_media_routes(Router& router, ArchivedMediaContext context);

}  // namespace kinema::server
