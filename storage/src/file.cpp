#include "file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <utility>
#include <vector>

#include "kinema/storage/error.h"

namespace kinema::storage {

std::error_code errno_to_error(int err) {
    if (err == ENOSPC || err == EDQUOT) return Errc::disk_full;
    return Errc::io_error;
}

File::File(File&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      path_(std::move(other.path_)),
      fault_(other.fault_),
      direct_(other.direct_) {}

File& File::operator=(File&& other) noexcept {
    if (this != &other) {
        close();
        fd_ = std::exchange(other.fd_, -1);
        path_ = std::move(other.path_);
        fault_ = other.fault_;
        direct_ = other.direct_;
    }
    return *this;
}

File::~File() {
    close();
}

void File::close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
}

std::error_code File::open(const std::filesystem::path& path, bool create, const WriteFault* fault,
                           File& file) {
    const int flags = O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0);
    const int fd = ::open(path.c_str(), flags, 0644);
    if (fd < 0) return errno == ENOENT ? make_error_code(Errc::fragment_not_found) : errno_to_error(errno);
    file.close();
    file.fd_ = fd;
    file.path_ = path;
    file.fault_ = fault;
    return {};
}

std::error_code File::open_for_direct_writes(const std::filesystem::path& path, File& file) {
    bool direct = true;
    int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC | O_DIRECT);
    if (fd < 0 && errno == EINVAL) {
        direct = false;
        fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    }
    if (fd < 0) return errno_to_error(errno);
    file.close();
    file.fd_ = fd;
    file.path_ = path;
    file.fault_ = nullptr;
    file.direct_ = direct;
    return {};
}

std::error_code File::take_space_fault(std::uint64_t bytes) const {
    if (!fault_ || !*fault_) return {};
    const auto ec = (*fault_)(path_, static_cast<std::size_t>(bytes));
    if (!ec) return {};
    return ec.category() == storage_category() ? ec : errno_to_error(ec.value());
}

std::error_code File::available(std::uint64_t& bytes) const {
    struct statvfs st {};
    if (::fstatvfs(fd_, &st) != 0) return errno_to_error(errno);
    bytes = static_cast<std::uint64_t>(st.f_bavail) * st.f_frsize;
    return {};
}

std::error_code File::write_aligned(std::uint64_t offset,
                                    std::span<const std::span<const std::uint8_t>> buffers) {
    std::vector<iovec> iov;
    iov.reserve(buffers.size());
    for (auto b : buffers)
        iov.push_back({const_cast<std::uint8_t*>(b.data()), b.size()});
    std::size_t first = 0;
    while (first < iov.size()) {
        const int count = static_cast<int>(std::min<std::size_t>(iov.size() - first, IOV_MAX));
        const ssize_t n = ::pwritev(fd_, iov.data() + first, count, static_cast<off_t>(offset));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EINVAL && direct_) {
            // The file system took O_DIRECT at open but not for this write: go on through the page cache.
            const int fd = ::open(path_.c_str(), O_WRONLY | O_CLOEXEC);
            if (fd < 0) return errno_to_error(errno);
            ::close(std::exchange(fd_, fd));
            direct_ = false;
            continue;
        }
        if (n <= 0) return errno_to_error(n < 0 ? errno : ENOSPC);
        offset += static_cast<std::uint64_t>(n);
        // Skip the buffers written completely; advance into a partly written one (a short direct write
        // ends on a block boundary, so what is left stays aligned).
        auto left = static_cast<std::size_t>(n);
        while (first < iov.size() && left >= iov[first].iov_len) {
            left -= iov[first].iov_len;
            ++first;
        }
        if (first < iov.size()) {
            iov[first].iov_base = static_cast<std::uint8_t*>(iov[first].iov_base) + left;
            iov[first].iov_len -= left;
        }
    }
    return {};
}

std::error_code File::write_at(std::uint64_t offset, std::span<const std::span<const std::uint8_t>> buffers) {
    std::size_t total = 0;
    std::vector<iovec> iov;
    iov.reserve(buffers.size());
    for (auto b : buffers) {
        if (b.empty()) continue;
        iov.push_back({const_cast<std::uint8_t*>(b.data()), b.size()});
        total += b.size();
    }
    if (fault_ && *fault_) {
        if (auto ec = (*fault_)(path_, total)) {
            return ec.category() == storage_category() ? ec : errno_to_error(ec.value());
        }
    }
    std::size_t done = 0;
    std::size_t first = 0;
    while (done < total) {
        const ssize_t n = ::pwritev(fd_, iov.data() + first, static_cast<int>(iov.size() - first),
                                    static_cast<off_t>(offset + done));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            const int err = n < 0 ? errno : ENOSPC;  // a 0-byte write means no room left
            (void)::ftruncate(fd_, static_cast<off_t>(offset));
            return errno_to_error(err);
        }
        done += static_cast<std::size_t>(n);
        // Skip the buffers written completely; advance into a partly written one.
        auto left = static_cast<std::size_t>(n);
        while (first < iov.size() && left >= iov[first].iov_len) {
            left -= iov[first].iov_len;
            ++first;
        }
        if (first < iov.size()) {
            iov[first].iov_base = static_cast<std::uint8_t*>(iov[first].iov_base) + left;
            iov[first].iov_len -= left;
        }
    }
    return {};
}

std::error_code File::read_at(std::uint64_t offset, std::span<std::uint8_t> out) const {
    std::size_t done = 0;
    while (done < out.size()) {
        const ssize_t n =
            ::pread(fd_, out.data() + done, out.size() - done, static_cast<off_t>(offset + done));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return errno_to_error(errno);
        if (n == 0) return Errc::corrupt_record;
        done += static_cast<std::size_t>(n);
    }
    return {};
}

std::error_code File::size(std::uint64_t& bytes) const {
    struct stat st {};
    if (::fstat(fd_, &st) != 0) return errno_to_error(errno);
    bytes = static_cast<std::uint64_t>(st.st_size);
    return {};
}

std::error_code File::truncate(std::uint64_t bytes) {
    if (::ftruncate(fd_, static_cast<off_t>(bytes)) != 0) return errno_to_error(errno);
    return {};
}

std::error_code File::sync_data() {
    if (::fdatasync(fd_) != 0) return errno_to_error(errno);
    return {};
}

std::error_code MappedFile::map(const File& file, std::size_t size, std::shared_ptr<const MappedFile>& out) {
    if (size == 0) return Errc::invalid_argument;
    // MAP_POPULATE maps every page (already in the page cache after a crash or restart) in one call, so the
    // validation pass that follows takes no page faults.
    void* address = ::mmap(nullptr, size, PROT_READ, MAP_SHARED | MAP_POPULATE, file.fd(), 0);
    if (address == MAP_FAILED) return errno_to_error(errno);
    out.reset(new MappedFile(address, size));
    return {};
}

MappedFile::~MappedFile() {
    ::munmap(address_, size_);
}

std::error_code sync_directory(const std::filesystem::path& dir) {
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return errno_to_error(errno);
    const int rc = ::fsync(fd);
    const int err = errno;
    ::close(fd);
    return rc == 0 ? std::error_code{} : errno_to_error(err);
}

}  // namespace kinema::storage
