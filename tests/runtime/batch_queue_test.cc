// BatchQueue: entries join the last batch until it would exceed the byte
// bound; batches come out oldest first.
#include "runtime/wire/batch_queue.h"

#include <string>
#include <vector>

#include "catch2/catch.hpp"

namespace {

using iw::internal::BatchQueue;

using Batch = std::vector<std::string>;

// Adds `entry`, counting its length as its size.
void Add(BatchQueue<Batch>& queue, const std::string& entry) {
  queue.For(entry.size()).push_back(entry);
}

std::vector<Batch> Drain(BatchQueue<Batch>& queue) {
  std::vector<Batch> batches;
  while (!queue.empty()) batches.push_back(queue.TakeFront());
  return batches;
}

TEST_CASE("BatchQueue: a new queue is empty and keeps its bound", "[runtime][batch_queue]") {
  BatchQueue<Batch> queue(100);
  CHECK(queue.empty());
  CHECK(queue.max_batch_bytes() == 100);
}

TEST_CASE("BatchQueue: entries join one batch while their sum fits the bound",
          "[runtime][batch_queue]") {
  BatchQueue<Batch> queue(10);
  Add(queue, "aaa");
  Add(queue, "bbb");
  Add(queue, "cccc");  // 3 + 3 + 4 == 10: exactly the bound still fits
  CHECK_FALSE(queue.empty());
  CHECK(Drain(queue) == std::vector<Batch>{{"aaa", "bbb", "cccc"}});
}

TEST_CASE("BatchQueue: an entry that would exceed the bound starts a new batch",
          "[runtime][batch_queue]") {
  BatchQueue<Batch> queue(10);
  Add(queue, "aaaaaa");
  Add(queue, "bbbbb");  // 6 + 5 > 10
  Add(queue, "cc");     // 5 + 2 fits behind "bbbbb"
  Add(queue, "dddd");   // 7 + 4 > 10
  CHECK(Drain(queue) == std::vector<Batch>{{"aaaaaa"}, {"bbbbb", "cc"}, {"dddd"}});
}

TEST_CASE("BatchQueue: an entry larger than the bound gets a batch of its own",
          "[runtime][batch_queue]") {
  BatchQueue<Batch> queue(4);
  Add(queue, "a");
  Add(queue, "oversized");
  Add(queue, "b");
  CHECK(Drain(queue) == std::vector<Batch>{{"a"}, {"oversized"}, {"b"}});
}

TEST_CASE("BatchQueue: batches come out oldest first, entries in the order they were added",
          "[runtime][batch_queue]") {
  BatchQueue<Batch> queue(2);
  for (int i = 0; i < 6; ++i) Add(queue, std::to_string(i));
  REQUIRE_FALSE(queue.empty());
  CHECK(queue.TakeFront() == Batch{"0", "1"});
  CHECK(queue.TakeFront() == Batch{"2", "3"});
  CHECK(queue.TakeFront() == Batch{"4", "5"});
  CHECK(queue.empty());
}

TEST_CASE("BatchQueue: taking the front batch leaves the last batch open for more entries",
          "[runtime][batch_queue]") {
  BatchQueue<Batch> queue(4);
  Add(queue, "aaa");
  Add(queue, "bb");  // second batch, 2 bytes
  CHECK(queue.TakeFront() == Batch{"aaa"});
  Add(queue, "cc");  // 2 + 2 fits into the remaining batch
  CHECK(Drain(queue) == std::vector<Batch>{{"bb", "cc"}});
}

TEST_CASE("BatchQueue: after the last batch is taken, the next entry starts a fresh batch",
          "[runtime][batch_queue]") {
  BatchQueue<Batch> queue(4);
  Add(queue, "aaa");
  CHECK(queue.TakeFront() == Batch{"aaa"});
  REQUIRE(queue.empty());
  // The taken batch's 3 bytes no longer count: 4 bytes fit in the new batch.
  Add(queue, "bbbb");
  CHECK(Drain(queue) == std::vector<Batch>{{"bbbb"}});
}

TEST_CASE("BatchQueue: Clear drops every batch and the byte count of the last one",
          "[runtime][batch_queue]") {
  BatchQueue<Batch> queue(4);
  Add(queue, "aaa");
  Add(queue, "bbb");
  queue.Clear();
  CHECK(queue.empty());
  Add(queue, "cccc");
  CHECK(Drain(queue) == std::vector<Batch>{{"cccc"}});
}

TEST_CASE("BatchQueue: entry sizes include the framing the caller adds", "[runtime][batch_queue]") {
  // How call streams use it: each entry counts its bytes plus kEntryFraming.
  BatchQueue<Batch> queue(2 * (10 + iw::internal::kEntryFraming));
  for (int i = 0; i < 3; ++i) {
    queue.For(10 + iw::internal::kEntryFraming).push_back(std::string(10, 'a' + i));
  }
  CHECK(Drain(queue) ==
        std::vector<Batch>{{std::string(10, 'a'), std::string(10, 'b')}, {std::string(10, 'c')}});
}

}  // namespace
