// File systems the integration tests mount for a state directory: a small tmpfs to fill
// up, an ext4 image to fail. Need root (mount, loop devices).
#pragma once

#include <filesystem>
#include <string>

namespace itest {

/// A tmpfs of `size` mounted on a fresh folder for the object's life; unmounted (lazily,
/// so an agent still holding files cannot keep it) however the test ends.
class TmpfsMount {
 public:
  explicit TmpfsMount(const std::string& size);
  ~TmpfsMount();
  TmpfsMount(const TmpfsMount&) = delete;
  TmpfsMount& operator=(const TmpfsMount&) = delete;
  const std::filesystem::path& dir() const { return dir_; }

  /// Writes zeros into `name` until the file system is full.
  void fill(const std::string& name) const;

 private:
  std::filesystem::path dir_;
};

/// An 8 MiB ext4 image, loop-mounted with errors=remount-ro on a fresh folder.
class Ext4Mount {
 public:
  Ext4Mount();
  ~Ext4Mount();
  Ext4Mount(const Ext4Mount&) = delete;
  Ext4Mount& operator=(const Ext4Mount&) = delete;
  const std::filesystem::path& dir() const { return dir_; }

  /// What a failing disk does: the kernel records a file system error and, as told by
  /// errors=remount-ro, turns the file system read-only under its open files.
  void fail() const;
  /// The operator's repair: unmount, e2fsck, mount again.
  void repair() const;

 private:
  void mount() const;

  std::string image_;
  std::filesystem::path dir_;
};

}  // namespace itest
