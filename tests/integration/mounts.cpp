#include "mounts.hpp"

#include <sys/mount.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <cstring>
#include <fstream>

#include "support.hpp"

namespace itest {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

TmpfsMount::TmpfsMount(const std::string& size)
    : dir_(fs::path(write_temp_file("disk.keep", "")).parent_path() / "disk-mnt") {
  fs::create_directories(dir_);
  const std::string options = "size=" + size + ",mode=0755";
  if (::mount("tmpfs", dir_.c_str(), "tmpfs", 0, options.c_str()) != 0) {
    FAIL("mount tmpfs on " << dir_ << ": " << std::strerror(errno) << " (the test needs root)");
  }
}

TmpfsMount::~TmpfsMount() {
  ::umount2(dir_.c_str(), MNT_DETACH);
}

void TmpfsMount::fill(const std::string& name) const {
  std::ofstream out(dir_ / name, std::ios::binary);
  const std::string chunk(64 * 1024, '\0');
  for (int i = 0; i < 100000 && out.write(chunk.data(), chunk.size()).flush(); ++i) {
  }
}

Ext4Mount::Ext4Mount()
    : image_(write_temp_file("state.ext4", "")), dir_(fs::path(image_).parent_path() / "ext4-mnt") {
  fs::create_directories(dir_);
  fs::resize_file(image_, 8 * 1024 * 1024);
  const auto mkfs = run_command({"/usr/sbin/mkfs.ext4", "-q", "-F", image_}, 30s);
  REQUIRE(mkfs.exit_code == 0);
  mount();
}

Ext4Mount::~Ext4Mount() {
  ::umount2(dir_.c_str(), MNT_DETACH);
}

void Ext4Mount::mount() const {
  const auto r =
      run_command({"/usr/bin/mount", "-o", "loop,errors=remount-ro", image_, dir_.string()}, 30s);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
}

void Ext4Mount::fail() const {
  const auto source = run_command({"/usr/bin/findmnt", "-n", "-o", "SOURCE", dir_}, 10s);
  const std::string device = fs::path(source.out.substr(0, source.out.find('\n'))).filename();
  REQUIRE(!device.empty());
  std::ofstream("/sys/fs/ext4/" + device + "/trigger_fs_error") << "1\n";
  REQUIRE_FALSE(std::ofstream(dir_ / "probe-write").good());
}

void Ext4Mount::repair() const {
  REQUIRE(::umount2(dir_.c_str(), 0) == 0);
  const auto fsck = run_command({"/usr/sbin/e2fsck", "-f", "-y", image_}, 60s);
  INFO(fsck.out);
  REQUIRE(fsck.exit_code <= 1);  // 0: clean, 1: errors corrected
  mount();
}

}  // namespace itest
