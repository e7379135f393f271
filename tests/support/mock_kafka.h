// librdkafka's in-process mock cluster for tests that need a real Kafka protocol peer without
// a broker to install: three brokers inside a producer handle, listening on 127.0.0.1 only,
// with one topic, plus the producing and inspection calls the tests need. Failures are
// reported through GoogleTest (ADD_FAILURE / ASSERT), so it is for tests only.
//
//   MockKafka kafka(4);                                   // topic "events", 4 partitions
//   kafka.Produce(0, R"({"user":"u1","item":"v9","type":"click","ts":1700000000})");
//   kafka.Flush();
//   KafkaConsumerOptions opt{.brokers = kafka.bootstraps(), .topic = MockKafka::kTopic, ...};
//
// Every consumer test pays the mock's group-join delay (3 s for the first member of a group),
// and each rebalance about session.timeout.ms - 1 s, hence MockConsumerConfig() below.
//
// Thread-safety: Produce and Flush from one thread at a time; the rest from any thread.
#pragma once

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace funnel::testing {

class MockKafka {
 public:
  static constexpr char kTopic[] = "events";

  explicit MockKafka(int partitions);
  ~MockKafka();
  MockKafka(const MockKafka&) = delete;
  MockKafka& operator=(const MockKafka&) = delete;

  const std::string& bootstraps() const { return bootstraps_; }
  int partitions() const { return partitions_; }

  // An empty payload is produced as a null message value.
  void Produce(int32_t partition, const std::string& payload);
  // Waits until every produced message is delivered; fails the test on a delivery failure.
  void Flush();

  int64_t HighWatermark(int32_t partition) const;
  // The group's committed offsets per partition (-1001 when none), asked of the broker.
  std::vector<int64_t> Committed(const std::string& group) const;

 private:
  rd_kafka_t* producer_ = nullptr;
  rd_kafka_mock_cluster_t* cluster_ = nullptr;
  std::string bootstraps_;
  int partitions_ = 0;
  std::atomic<int> delivery_failures_{0};
};

// Consumer settings a test against the mock needs: the mock holds a rebalance for
// session.timeout.ms - 1 s, so the default 45 s would stall tests; it must stay above the
// mock's 3 s initial join delay, or the first member expires before the group forms and the
// join never completes.
std::map<std::string, std::string> MockConsumerConfig();

}  // namespace funnel::testing
