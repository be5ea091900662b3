// A POSIX file descriptor with the few operations the log needs, each mapping errno to storage::Errc
// (ENOSPC/EDQUOT -> disk_full, anything else -> io_error) and honouring the write-fault test hook.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <system_error>

namespace kinema::storage {

using WriteFault = std::function<std::error_code(const std::filesystem::path&, std::size_t)>;

std::error_code errno_to_error(int err);

class File {
public:
    File() = default;
    File(File&& other) noexcept;
    File& operator=(File&& other) noexcept;
    ~File();
    File(const File&) = delete;
    File& operator=(const File&) = delete;

    // O_RDWR | O_CLOEXEC, plus O_CREAT when create is set.
    static std::error_code open(const std::filesystem::path& path, bool create, const WriteFault* fault,
                                File& file);
    bool is_open() const { return fd_ >= 0; }
    int fd() const { return fd_; }
    const std::filesystem::path& path() const { return path_; }

    // Opens an existing file for the commit thread's direct-I/O writes: O_WRONLY | O_DIRECT, or without
    // O_DIRECT where the file system refuses it (tmpfs before Linux 6.6); direct() says which.
    static std::error_code open_for_direct_writes(const std::filesystem::path& path, File& file);
    bool direct() const { return direct_; }
    // What the write-fault hook says of taking `bytes` more in this file (appends ask before staging).
    std::error_code take_space_fault(std::uint64_t bytes) const;
    // Bytes the file system has left for unprivileged writers (fstatvfs).
    std::error_code available(std::uint64_t& bytes) const;
    // Writes the buffers (each aligned in memory and length, see staged_writes.h) at an aligned offset.
    // If the kernel refuses direct I/O for them, reopens the file without O_DIRECT and writes again. No
    // fault hook and no truncate: the caller fails the segment, which cuts it back to what is durable.
    std::error_code write_aligned(std::uint64_t offset,
                                  std::span<const std::span<const std::uint8_t>> buffers);
    // Writes all of the buffers at `offset`; on any failure the file is truncated back to `offset` so no
    // partial record stays behind (best effort: the truncate itself may fail on a dying disk).
    std::error_code write_at(std::uint64_t offset, std::span<const std::span<const std::uint8_t>> buffers);
    // Reads exactly out.size() bytes; corrupt_record if the file ends first.
    std::error_code read_at(std::uint64_t offset, std::span<std::uint8_t> out) const;
    std::error_code size(std::uint64_t& bytes) const;
    std::error_code truncate(std::uint64_t bytes);
    std::error_code sync_data();
    void close();

private:
    int fd_ = -1;
    std::filesystem::path path_;
    const WriteFault* fault_ = nullptr;
    bool direct_ = false;
};

// A read-only shared mapping of the first `size` bytes of a file (the index files are read through it).
class MappedFile {
public:
    static std::error_code map(const File& file, std::size_t size, std::shared_ptr<const MappedFile>& out);
    ~MappedFile();
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;
    const std::uint8_t* data() const { return static_cast<const std::uint8_t*>(address_); }
    std::size_t size() const { return size_; }

private:
    MappedFile(void* address, std::size_t size) : address_(address), size_(size) {}
    void* address_;
    std::size_t size_;
};

// fsync of a directory, so a created or deleted file name is durable.
std::error_code sync_directory(const std::filesystem::path& dir);

}  // namespace kinema::storage
