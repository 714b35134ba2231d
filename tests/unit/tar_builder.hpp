// TarBuilder: small tar layers for tests, written with libarchive's writer (pax format).
#pragma once

#include <archive.h>
#include <archive_entry.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace berth::test {

class TarBuilder {
 public:
  explicit TarBuilder(const char* filter = "none") {
    a_ = archive_write_new();
    archive_write_set_format_pax_restricted(a_);
    if (std::string(filter) == "gzip")
      archive_write_add_filter_gzip(a_);
    else if (std::string(filter) == "zstd")
      archive_write_add_filter_zstd(a_);
    archive_write_set_bytes_per_block(a_, 10240);
    archive_write_set_bytes_in_last_block(a_, 1);  // no zero padding after a zstd frame
    archive_write_open(a_, this, nullptr, &TarBuilder::writeCallback, nullptr);
  }
  ~TarBuilder() {
    if (a_)
      archive_write_free(a_);
  }
  TarBuilder(const TarBuilder&) = delete;
  TarBuilder& operator=(const TarBuilder&) = delete;

  TarBuilder& dir(const std::string& path, int mode = 0755, int uid = 0, int gid = 0) {
    return add(path, AE_IFDIR, mode, "", "", "", uid, gid);
  }
  TarBuilder& file(const std::string& path, const std::string& content, int mode = 0644,
                   int uid = 0, int gid = 0) {
    return add(path, AE_IFREG, mode, content, "", "", uid, gid);
  }
  TarBuilder& symlink(const std::string& path, const std::string& target) {
    return add(path, AE_IFLNK, 0777, "", target, "");
  }
  TarBuilder& hardlink(const std::string& path, const std::string& target) {
    return add(path, AE_IFREG, 0644, "", "", target);
  }
  TarBuilder& device(const std::string& path, int major, int minor) {
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, path.c_str());
    archive_entry_set_filetype(e, AE_IFCHR);
    archive_entry_set_perm(e, 0666);
    archive_entry_set_rdevmajor(e, major);
    archive_entry_set_rdevminor(e, minor);
    archive_write_header(a_, e);
    archive_entry_free(e);
    return *this;
  }
  TarBuilder& xattrFile(const std::string& path, const std::string& content, const std::string& key,
                        const std::string& value) {
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, path.c_str());
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_size(e, static_cast<la_int64_t>(content.size()));
    archive_entry_xattr_add_entry(e, key.c_str(), value.data(), value.size());
    archive_write_header(a_, e);
    archive_write_data(a_, content.data(), content.size());
    archive_entry_free(e);
    return *this;
  }

  // The finished tar stream.
  const std::string& bytes() {
    if (a_) {
      archive_write_close(a_);
      archive_write_free(a_);
      a_ = nullptr;
    }
    return out_;
  }
  void writeTo(const std::filesystem::path& path) {
    const std::string& data = bytes();
    FILE* f = std::fopen(path.c_str(), "wb");
    std::fwrite(data.data(), 1, data.size(), f);
    std::fclose(f);
  }

 private:
  TarBuilder& add(const std::string& path, int type, int mode, const std::string& content,
                  const std::string& symlinkTarget, const std::string& hardlinkTarget, int uid = 0,
                  int gid = 0) {
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, path.c_str());
    archive_entry_set_filetype(e, type);
    archive_entry_set_perm(e, mode);
    archive_entry_set_uid(e, uid);
    archive_entry_set_gid(e, gid);
    archive_entry_set_mtime(e, 1700000000, 0);
    if (!symlinkTarget.empty())
      archive_entry_set_symlink(e, symlinkTarget.c_str());
    if (!hardlinkTarget.empty())
      archive_entry_set_hardlink(e, hardlinkTarget.c_str());
    archive_entry_set_size(e, static_cast<la_int64_t>(content.size()));
    archive_write_header(a_, e);
    if (!content.empty())
      archive_write_data(a_, content.data(), content.size());
    archive_entry_free(e);
    return *this;
  }
  static la_ssize_t writeCallback(archive*, void* self, const void* data, size_t size) {
    static_cast<TarBuilder*>(self)->out_.append(static_cast<const char*>(data), size);
    return static_cast<la_ssize_t>(size);
  }

  archive* a_ = nullptr;
  std::string out_;
};

}  // namespace berth::test
