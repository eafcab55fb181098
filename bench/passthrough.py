"""(b) The aiokafka ceiling: consume -> produce, byte for byte, with a consumer group.

``python -m bench.passthrough BOOTSTRAP IN_TOPIC OUT_TOPIC GROUP``; runs until SIGINT/SIGTERM.
Each fetched batch is sent, its sends awaited, then its offsets committed (at-least-once).
"""

from __future__ import annotations

import asyncio
import signal
import sys

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer


async def main(bootstrap: str, in_topic: str, out_topic: str, group: str) -> None:
    consumer = AIOKafkaConsumer(in_topic, bootstrap_servers=bootstrap, group_id=group,
                                enable_auto_commit=False, auto_offset_reset="earliest",
                                fetch_max_wait_ms=20)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=1, acks=1)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await consumer.start()
    await producer.start()
    print("ready", flush=True)
    try:
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=100, max_records=2000)
            futures = [await producer.send(out_topic, value=m.value, key=m.key)
                       for messages in batch.values() for m in messages]
            if futures:
                await asyncio.gather(*futures)
                await consumer.commit()
    finally:
        await producer.stop()
        await consumer.stop()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
