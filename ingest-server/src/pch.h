// Precompiled for every kinema::server translation unit: Beast, Asio and nlohmann-json are header-only and
// take most of the compile time.
#pragma once

#include <spdlog/spdlog.h>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <nlohmann/json.hpp>
