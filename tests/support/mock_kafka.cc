#include "support/mock_kafka.h"

#include <gtest/gtest.h>

namespace funnel::testing {
namespace {

void Set(rd_kafka_conf_t* conf, const std::string& key, const std::string& value) {
  char errstr[512];
  ASSERT_EQ(rd_kafka_conf_set(conf, key.c_str(), value.c_str(), errstr, sizeof errstr), RD_KAFKA_CONF_OK)
      << errstr;
}

}  // namespace

MockKafka::MockKafka(int partitions) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  Set(conf, "test.mock.num.brokers", "3");
  Set(conf, "linger.ms", "0");  // send each message at once: tests wait on the consumer only
  rd_kafka_conf_set_dr_msg_cb(conf, [](rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
    if (m->err) static_cast<MockKafka*>(opaque)->delivery_failures_++;
  });
  rd_kafka_conf_set_opaque(conf, this);
  char errstr[512];
  producer_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
  if (producer_ == nullptr) {
    ADD_FAILURE() << errstr;
    rd_kafka_conf_destroy(conf);
    return;
  }
  cluster_ = rd_kafka_handle_mock_cluster(producer_);
  bootstraps_ = rd_kafka_mock_cluster_bootstraps(cluster_);
  EXPECT_EQ(rd_kafka_mock_topic_create(cluster_, kTopic, partitions, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
  partitions_ = partitions;
}

MockKafka::~MockKafka() {
  if (producer_) rd_kafka_destroy(producer_);
}

void MockKafka::Produce(int32_t partition, const std::string& payload) {
  for (;;) {
    rd_kafka_resp_err_t err = rd_kafka_producev(
        producer_, RD_KAFKA_V_TOPIC(kTopic), RD_KAFKA_V_PARTITION(partition),
        RD_KAFKA_V_VALUE(payload.empty() ? nullptr : const_cast<char*>(payload.data()), payload.size()),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
    if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      ASSERT_EQ(err, RD_KAFKA_RESP_ERR_NO_ERROR) << rd_kafka_err2str(err);
      break;
    }
    rd_kafka_poll(producer_, 10);
  }
  rd_kafka_poll(producer_, 0);
}

void MockKafka::Flush() {
  ASSERT_EQ(rd_kafka_flush(producer_, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
  ASSERT_EQ(delivery_failures_.load(), 0);
}

int64_t MockKafka::HighWatermark(int32_t partition) const {
  int64_t low = 0, high = 0;
  EXPECT_EQ(rd_kafka_query_watermark_offsets(producer_, kTopic, partition, &low, &high, 5000),
            RD_KAFKA_RESP_ERR_NO_ERROR);
  return high;
}

std::vector<int64_t> MockKafka::Committed(const std::string& group) const {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  Set(conf, "bootstrap.servers", bootstraps_);
  Set(conf, "group.id", group);
  char errstr[512];
  rd_kafka_t* consumer = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
  std::vector<int64_t> out(partitions_, RD_KAFKA_OFFSET_INVALID);
  if (consumer == nullptr) {
    ADD_FAILURE() << errstr;
    rd_kafka_conf_destroy(conf);
    return out;
  }
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(partitions_);
  for (int p = 0; p < partitions_; ++p) rd_kafka_topic_partition_list_add(list, kTopic, p);
  EXPECT_EQ(rd_kafka_committed(consumer, list, 5000), RD_KAFKA_RESP_ERR_NO_ERROR);
  for (int i = 0; i < list->cnt; ++i) out[list->elems[i].partition] = list->elems[i].offset;
  rd_kafka_topic_partition_list_destroy(list);
  rd_kafka_destroy(consumer);
  return out;
}

std::map<std::string, std::string> MockConsumerConfig() {
  return {{"session.timeout.ms", "4000"}, {"heartbeat.interval.ms", "300"}};
}

}  // namespace funnel::testing
