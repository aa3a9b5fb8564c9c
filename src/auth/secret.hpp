#pragma once
// A byte string that holds a password or other credential and wipes its memory
// (OPENSSL_cleanse, which the optimizer cannot drop) when it is destroyed, cleared or
// moved from. Copies are explicit, so a password is never duplicated by accident.

#include <openssl/crypto.h>

#include <string>
#include <string_view>
#include <utility>

namespace posthorn::auth {

class secret {
 public:
  secret() = default;
  explicit secret(std::string_view text) : text_(text) {}
  ~secret() { wipe(); }

  secret(secret&& other) noexcept : text_(std::move(other.text_)) { other.wipe(); }
  secret& operator=(secret&& other) noexcept {
    if (this != &other) {
      wipe();
      text_ = std::move(other.text_);
      other.wipe();
    }
    return *this;
  }
  secret(const secret&) = delete;
  secret& operator=(const secret&) = delete;

  // A deliberate copy (e.g. to hand a password to a worker thread).
  secret clone() const { return secret(text_); }

  std::string_view view() const { return text_; }
  bool empty() const { return text_.empty(); }
  std::size_t size() const { return text_.size(); }

  // Replaces the contents, wiping the old ones first.
  void assign(std::string_view text) {
    wipe();
    // Reserve first so the append below never reallocates and leaves a stray copy.
    text_.reserve(text.size());
    text_.append(text);
  }
  // Appends; when the buffer must grow, the old one is wiped rather than freed as it is.
  void append(std::string_view text) {
    if (text_.size() + text.size() > text_.capacity()) {
      std::string bigger;
      bigger.reserve(text_.size() + text.size());
      bigger.append(text_);
      wipe();
      text_ = std::move(bigger);
    }
    text_.append(text);
  }
  void clear() { wipe(); }

 private:
  void wipe() {
    // The whole capacity: an earlier, longer value may still sit past size().
    if (text_.capacity() > 0) {
      text_.resize(text_.capacity());
      OPENSSL_cleanse(text_.data(), text_.size());
    }
    text_.clear();
  }

  std::string text_;
};

}  // namespace posthorn::auth
