# kinema::server_media — the server's media paths as transport-independent units (PutMedia session, ACKs,
# live hub, GetMedia output, start selectors, archived media). No Beast here: the HTTP/WebSocket layer of
# kinema::server drives them. Included by ingest-server/CMakeLists.txt and by tests/unit/server.
include_guard(GLOBAL)
find_package(nlohmann_json 3 REQUIRED)

add_library(kinema_server_media STATIC
    ${CMAKE_CURRENT_LIST_DIR}/src/ack.cpp
    ${CMAKE_CURRENT_LIST_DIR}/src/archived_media.cpp
    ${CMAKE_CURRENT_LIST_DIR}/src/get_media_output.cpp
    ${CMAKE_CURRENT_LIST_DIR}/src/live_hub.cpp
    ${CMAKE_CURRENT_LIST_DIR}/src/put_media_session.cpp
    ${CMAKE_CURRENT_LIST_DIR}/src/start_selector.cpp
    ${CMAKE_CURRENT_LIST_DIR}/src/stream_header.cpp
    ${CMAKE_CURRENT_LIST_DIR}/src/websocket_frame_reader.cpp
)
add_library(kinema::server_media ALIAS kinema_server_media)
target_include_directories(kinema_server_media PUBLIC ${CMAKE_CURRENT_LIST_DIR}/src)
target_link_libraries(kinema_server_media
    PUBLIC kinema::media kinema::storage nlohmann_json::nlohmann_json
    PRIVATE kinema::warnings)
