// The KVS control plane: CreateStream, DescribeStream, ListStreams, DeleteStream, UpdateStream,
// UpdateDataRetention, GetDataEndpoint, TagStream, UntagStream, ListTagsForStream (POST /<operation>, JSON).
#pragma once

#include <functional>
#include <string>

#include "kinema/storage/catalog.h"
#include "router.h"

namespace kinema::server {

struct ControlPlaneContext {
    storage::Catalog* catalog = nullptr;
    std::function<std::string()> public_url;  // known only once the server is bound
    unsigned max_json_depth = 32;
    // Removes a deleted stream's fragment data; empty until the fragment store is wired in.
    storage::DeleteStreamData delete_stream_data;
    // Called after CreateStream and UpdateDataRetention with the stream's retention, so the fragment store
    // applies it (retention 0 keeps only an in-memory window).
    std::function<void(const std::string& name, std::int64_t retention_hours)> retention_changed;
};

void add_control_plane_routes(Router& router, ControlPlaneContext context);

}  // namespace kinema::server
