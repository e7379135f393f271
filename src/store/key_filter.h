// A Bloom filter over the event store's 16-byte dedupe keys that grows as keys are added. The
// store remembers in it every key it wrote since it was opened: on a store that was empty at
// open, a key the filter has never seen cannot be stored, so most of an import's keys skip the
// RocksDB lookup, and only the few the filter "may contain" are looked up.
// Hand-written because RocksDB's filters are built per table file, not added to key by key;
// the keys are XXH3 hashes already, so their bits index the filter directly.
// Not thread-safe: the store's writer mutex guards it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

namespace funnel::store {

class KeyFilter {
 public:
  static constexpr size_t kKeyBytes = 16;

  void Add(const char* key) {
    if (segments_.empty() || segments_.back().count == segments_.back().capacity)
      segments_.push_back(Segment(segments_.empty() ? kFirstCapacity : segments_.back().capacity * 2));
    segments_.back().Add(key);
    ++size_;
  }

  // False: the key was never added. True: it probably was (about 1% false positives).
  bool MayContain(const char* key) const {
    for (const Segment& s : segments_)
      if (s.MayContain(key)) return true;
    return false;
  }

  size_t size() const { return size_; }
  size_t bytes() const {
    size_t n = 0;
    for (const Segment& s : segments_) n += s.words.size() * sizeof(uint64_t);
    return n;
  }

 private:
  // Each segment is a blocked Bloom filter: a key sets kProbes bits within one 512-bit block
  // (one cache line), about 10 bits per key. Full segments stay; the next is twice as large, so
  // a lookup probes O(log n) cache lines.
  static constexpr size_t kFirstCapacity = size_t{1} << 20;
  static constexpr size_t kBitsPerKey = 10;
  static constexpr int kProbes = 6;
  static constexpr size_t kWordsPerBlock = 8;

  struct Segment {
    explicit Segment(size_t cap)
        : capacity(cap), blocks((cap * kBitsPerKey + 511) / 512), words(blocks * kWordsPerBlock, 0) {}

    // The low half of the key picks the block, the high half the bits within it.
    const uint64_t* Block(uint64_t low) const {
      __extension__ using U128 = unsigned __int128;  // multiply-shift maps low onto [0, blocks)
      return words.data() + static_cast<size_t>((static_cast<U128>(low) * blocks) >> 64) * kWordsPerBlock;
    }
    void Add(const char* key) {
      uint64_t low, high;
      std::memcpy(&low, key, 8);
      std::memcpy(&high, key + 8, 8);
      uint64_t* b = const_cast<uint64_t*>(Block(low));
      for (int i = 0; i < kProbes; ++i, high >>= 9) b[(high >> 6) & 7] |= uint64_t{1} << (high & 63);
      ++count;
    }
    bool MayContain(const char* key) const {
      uint64_t low, high;
      std::memcpy(&low, key, 8);
      std::memcpy(&high, key + 8, 8);
      const uint64_t* b = Block(low);
      for (int i = 0; i < kProbes; ++i, high >>= 9)
        if (!(b[(high >> 6) & 7] & (uint64_t{1} << (high & 63)))) return false;
      return true;
    }

    size_t capacity;
    size_t count = 0;
    size_t blocks;
    std::vector<uint64_t> words;
  };

  std::vector<Segment> segments_;
  size_t size_ = 0;
};

}  // namespace funnel::store
