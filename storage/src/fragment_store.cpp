// FragmentStore: the public facade. Validates names before building paths, owns the streams, the commit
// thread and the retention thread.
#include "kinema/storage/fragment_store.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/file.h>
#include <unistd.h>

#include <charconv>
#include <condition_variable>
#include <cstdio>
#include <shared_mutex>
#include <thread>
#include <unordered_map>

#include "crc32c.h"
#include "file.h"
#include "fragment_log.h"
#include "group_commit.h"
#include "kinema/storage/error.h"

namespace kinema::storage {

std::string format_fragment_number(FragmentNumber number) {
    char text[24];
    std::snprintf(text, sizeof text, "%020llu", static_cast<unsigned long long>(number));
    return text;
}

std::optional<FragmentNumber> parse_fragment_number(std::string_view text) {
    if (text.empty() || text.size() > 20) return std::nullopt;
    FragmentNumber value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
    return value;
}

bool is_valid_stream_name(std::string_view name) {
    if (name.empty() || name.size() > 256 || name == "." || name == "..") return false;
    for (char c : name) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                        c == '_' || c == '.' || c == '-';
        if (!ok) return false;
    }
    return true;
}

TailSubscription::TailSubscription(TailSubscription&& other) noexcept : cancel_(std::move(other.cancel_)) {
    other.cancel_ = nullptr;
}

TailSubscription& TailSubscription::operator=(TailSubscription&& other) noexcept {
    if (this != &other) {
        cancel();
        cancel_ = std::move(other.cancel_);
        other.cancel_ = nullptr;
    }
    return *this;
}

TailSubscription::~TailSubscription() {
    cancel();
}

void TailSubscription::cancel() {
    if (cancel_) {
        auto cancel = std::move(cancel_);
        cancel_ = nullptr;
        cancel();
    }
}

class FragmentStore::Impl {
public:
    Impl(std::filesystem::path data_dir, StoreOptions options)
        : options_(std::move(options)),
          streams_dir_(data_dir / "streams"),
          committer_(make_root(), options_) {
        if (options_.retention_sweep_interval.count() > 0) {
            sweeper_ = std::thread([this] {
                ::pthread_setname_np(::pthread_self(), "kinema-retain");
                sweep_loop();
            });
        }
    }

    ~Impl() {
        {
            std::lock_guard lock(sweep_mutex_);
            stopping_ = true;
        }
        sweep_wake_.notify_one();
        if (sweeper_.joinable()) sweeper_.join();
        committer_.stop();  // finishes every pending commit first
        if (lock_fd_ >= 0) ::close(lock_fd_);
    }

    std::shared_ptr<StreamLog> find(std::string_view name) const {
        std::shared_lock lock(streams_mutex_);
        auto it = streams_.find(std::string(name));
        return it == streams_.end() ? nullptr : it->second;
    }

    // Runs `read` on the stream's log, or gives resource_not_found when the stream is not open.
    template <typename Read>
    std::error_code with(std::string_view stream, Read&& read) const {
        auto log = find(stream);
        if (!log) return Errc::resource_not_found;
        return read(*log);
    }

    media::Timestamp now() const { return options_.clock ? options_.clock() : media::Timestamp::now(); }

    // Creates the streams directory and takes its lock: two stores on one directory would cut each other's
    // files during recovery. The kernel drops the lock when the process dies, so a crash leaves none.
    std::filesystem::path make_root() {
        std::filesystem::create_directories(streams_dir_);
        const auto lock_path = streams_dir_ / ".lock";
        lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (lock_fd_ < 0)
            throw std::system_error(errno, std::generic_category(), "open " + lock_path.string());
        if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
            const int err = errno;
            ::close(lock_fd_);
            lock_fd_ = -1;
            throw std::system_error(err, std::generic_category(),
                                    "data directory " + streams_dir_.parent_path().string() + " is in use");
        }
        return streams_dir_;
    }

    void sweep_loop() {
        std::unique_lock lock(sweep_mutex_);
        while (!sweep_wake_.wait_for(lock, options_.retention_sweep_interval, [this] { return stopping_; })) {
            lock.unlock();
            sweep();
            lock.lock();
        }
    }

    std::size_t sweep() {
        std::vector<std::shared_ptr<StreamLog>> streams;
        {
            std::shared_lock lock(streams_mutex_);
            for (const auto& [name, stream] : streams_)
                streams.push_back(stream);
        }
        std::size_t removed = 0;
        const auto now_ns = now().nanoseconds();
        for (const auto& stream : streams)
            removed += stream->sweep(now_ns);
        return removed;
    }

    StoreOptions options_;
    std::filesystem::path streams_dir_;
    mutable std::shared_mutex streams_mutex_;
    std::unordered_map<std::string, std::shared_ptr<StreamLog>> streams_;
    std::mutex open_mutex_;  // serialises open/delete of streams (recovery runs under it)
    std::atomic<std::uint64_t> bytes_appended_{0};
    int lock_fd_ = -1;  // set by make_root() while committer_ is constructed: keep it declared before
    GroupCommitter committer_;
    std::mutex sweep_mutex_;
    std::condition_variable sweep_wake_;
    bool stopping_ = false;
    std::thread sweeper_;
};

std::unique_ptr<FragmentStore> FragmentStore::open(const std::filesystem::path& data_dir,
                                                   StoreOptions options) {
    return std::unique_ptr<FragmentStore>(
        new FragmentStore(std::make_unique<Impl>(data_dir, std::move(options))));
}

FragmentStore::FragmentStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
FragmentStore::~FragmentStore() = default;

std::error_code FragmentStore::open_stream(std::string_view stream, std::uint32_t retention_hours) {
    if (!is_valid_stream_name(stream)) return Errc::invalid_argument;
    std::lock_guard open_lock(impl_->open_mutex_);
    if (auto existing = impl_->find(stream)) {
        existing->set_retention(retention_hours);
        return {};
    }
    // Only a validated name reaches the path.
    auto log = std::make_shared<StreamLog>(std::string(stream), impl_->streams_dir_ / std::string(stream),
                                           impl_->options_);
    if (auto ec = log->open(retention_hours)) return ec;
    std::unique_lock lock(impl_->streams_mutex_);
    impl_->streams_.emplace(std::string(stream), std::move(log));
    return {};
}

bool FragmentStore::is_open(std::string_view stream) const {
    return impl_->find(stream) != nullptr;
}

std::error_code FragmentStore::delete_stream(std::string_view stream) {
    if (!is_valid_stream_name(stream)) return Errc::invalid_argument;
    std::lock_guard open_lock(impl_->open_mutex_);
    std::shared_ptr<StreamLog> log;
    {
        std::unique_lock lock(impl_->streams_mutex_);
        auto it = impl_->streams_.find(std::string(stream));
        if (it != impl_->streams_.end()) {
            log = std::move(it->second);
            impl_->streams_.erase(it);
        }
    }
    if (log) log->close();
    const auto dir = impl_->streams_dir_ / std::string(stream);
    std::error_code ec;
    const bool existed = std::filesystem::exists(dir, ec);
    std::filesystem::remove_all(dir, ec);
    if (ec) return errno_to_error(ec.value());
    // A stream that is not open (e.g. after a restart) still has its data removed.
    if (!log && !existed) return Errc::resource_not_found;
    return {};
}

std::error_code FragmentStore::set_retention(std::string_view stream, std::uint32_t retention_hours) {
    auto log = impl_->find(stream);
    if (!log) return Errc::resource_not_found;
    log->set_retention(retention_hours);
    return {};
}

std::error_code FragmentStore::put_header(std::string_view stream, std::span<const std::uint8_t> bytes,
                                          HeaderId& id) {
    auto log = impl_->find(stream);
    if (!log) return Errc::resource_not_found;
    return log->put_header(bytes, id);
}

std::error_code FragmentStore::prepare_appends(std::string_view stream) {
    auto log = impl_->find(stream);
    if (!log) return Errc::resource_not_found;
    return log->prepare_appends();
}

std::error_code FragmentStore::append(std::string_view stream, std::span<const std::uint8_t> bytes,
                                      const FragmentMetadata& metadata, FragmentNumber& number,
                                      CommitCallback on_commit) {
    auto log = impl_->find(stream);
    if (!log) return Errc::resource_not_found;
    if (auto ec = log->append(bytes, metadata, impl_->committer_, std::move(on_commit), number)) return ec;
    impl_->bytes_appended_.fetch_add(bytes.size());
    return {};
}

std::error_code FragmentStore::flush() {
    return impl_->committer_.flush();
}

std::optional<FragmentNumber> FragmentStore::find_duplicate(std::string_view stream,
                                                            media::Timestamp producer_timestamp,
                                                            std::span<const std::uint8_t> bytes) const {
    auto log = impl_->find(stream);
    if (!log) return std::nullopt;
    // Checksum the fragment only when a recent one has its producer timestamp: a live stream's new
    // fragments never do, and the checksum is a full pass over the bytes.
    if (!log->find_recent(producer_timestamp.nanoseconds())) return std::nullopt;
    return log->find_duplicate(producer_timestamp.nanoseconds(), static_cast<std::uint32_t>(bytes.size()),
                               crc32c(bytes));
}

std::optional<FragmentNumber> FragmentStore::find_recent(std::string_view stream,
                                                         media::Timestamp producer_timestamp) const {
    auto log = impl_->find(stream);
    if (!log) return std::nullopt;
    return log->find_recent(producer_timestamp.nanoseconds());
}

std::error_code FragmentStore::next_fragment_number(std::string_view stream, FragmentNumber& number) {
    auto log = impl_->find(stream);
    if (!log) return Errc::resource_not_found;
    return log->next_fragment_number(number);
}

std::error_code FragmentStore::get_info(std::string_view stream, FragmentNumber number,
                                        FragmentInfo& info) const {
    return impl_->with(stream, [&](StreamLog& log) { return log.get_info(number, info); });
}

std::error_code FragmentStore::read(std::string_view stream, FragmentNumber number,
                                    Fragment& fragment) const {
    return impl_->with(stream, [&](StreamLog& log) { return log.read(number, fragment); });
}

std::error_code FragmentStore::get_header(std::string_view stream, HeaderId id,
                                          std::shared_ptr<const std::vector<std::uint8_t>>& bytes) const {
    return impl_->with(stream, [&](StreamLog& log) { return log.get_header(id, bytes); });
}

std::error_code FragmentStore::find_at_or_after(std::string_view stream, TimestampKind kind,
                                                media::Timestamp at, FragmentInfo& info) const {
    return impl_->with(stream,
                       [&](StreamLog& log) { return log.find_at_or_after(kind, at.nanoseconds(), info); });
}

std::error_code FragmentStore::list(std::string_view stream, TimestampKind kind, media::Timestamp start,
                                    media::Timestamp end, std::size_t max_results, std::string_view token,
                                    FragmentPage& page) const {
    return impl_->with(stream, [&](StreamLog& log) {
        return log.list(kind, start.nanoseconds(), end.nanoseconds(), max_results, token, page);
    });
}

std::error_code FragmentStore::oldest(std::string_view stream, FragmentInfo& info) const {
    return impl_->with(stream, [&](StreamLog& log) { return log.oldest(info); });
}

std::error_code FragmentStore::newest(std::string_view stream, FragmentInfo& info) const {
    return impl_->with(stream, [&](StreamLog& log) { return log.newest(info); });
}

std::error_code FragmentStore::next_after(std::string_view stream, FragmentNumber after,
                                          FragmentInfo& info) const {
    return impl_->with(stream, [&](StreamLog& log) { return log.next_after(after, info); });
}

std::error_code FragmentStore::follow(std::string_view stream, TailCallback on_fragment,
                                      TailSubscription& subscription) {
    auto log = impl_->find(stream);
    if (!log) return Errc::resource_not_found;
    const auto id = log->follow(std::move(on_fragment));
    std::weak_ptr<StreamLog> weak = log;
    subscription = TailSubscription([weak, id] {
        if (auto strong = weak.lock()) strong->unfollow(id);
    });
    return {};
}

std::size_t FragmentStore::sweep_retention() {
    return impl_->sweep();
}

StoreStats FragmentStore::stats() const {
    StoreStats stats;
    stats.syncs = impl_->committer_.syncs();
    stats.fragments_committed = impl_->committer_.fragments_committed();
    stats.bytes_appended = impl_->bytes_appended_.load();
    stats.sync_time = impl_->committer_.sync_time();
    return stats;
}

}  // namespace kinema::storage
