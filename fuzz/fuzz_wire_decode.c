/* fuzz_wire_decode.c -- libFuzzer driver for the bus message decoder. Input: one byte of
 * topic length, the topic, then the payload. A decoded number must survive a re-encode. */
#include "wire.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    size_t topic_len = data[0] % (WIRE_TOPIC_MAX + 8);
    if (topic_len > size - 1)
        topic_len = size - 1;
    const uint8_t *topic = data + 1, *payload = topic + topic_len;
    size_t payload_len = size - 1 - topic_len;
    wire_message_t msg;
    if (wire_decode(topic, topic_len, payload, payload_len, "number", &msg) != WIRE_OK)
        return 0;
    if (msg.kind == WIRE_NUMBER) {
        uint8_t buf[WIRE_MESSAGE_MAX];
        size_t len = wire_number_encode(&msg.number, buf, sizeof buf);
        wire_message_t again;
        const wire_number_t *a = &msg.number, *b = &again.number;
        if (len == 0 || wire_decode("number", 6, buf, len, "number", &again) != WIRE_OK ||
            a->epoch != b->epoch || a->seq != b->seq || a->published_ns != b->published_ns ||
            a->value != b->value)
            abort();
    } else if (strlen(msg.heartbeat.topic) > WIRE_TOPIC_MAX) {
        abort();
    }
    return 0;
}
