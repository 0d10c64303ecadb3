import {
  createExternalBuffer,
  DataType,
  define,
  isNullPointer,
  load,
  open,
  type JsExternal,
} from 'ffi-rs';

/**
 * The slice of librdkafka (Debian librdkafka1, 2.0.x) the dev Kafka host needs, called through
 * ffi-rs: no C compiler or -dev headers on the machine, and the control endpoint lives in the
 * same Node process as the mock cluster.
 */
open({ library: 'rdkafka', path: 'librdkafka.so.1' });

const lib = { library: 'rdkafka' } as const;
const { External: Ptr, I32, U64, String: Str, U8Array, Void } = DataType;

const native = define({
  rd_kafka_version_str: { ...lib, retType: Str, paramsType: [] },
  rd_kafka_err2str: { ...lib, retType: Str, paramsType: [I32] },
  rd_kafka_last_error: { ...lib, retType: I32, paramsType: [] },
  rd_kafka_conf_new: { ...lib, retType: Ptr, paramsType: [] },
  rd_kafka_conf_set: { ...lib, retType: I32, paramsType: [Ptr, Str, Str, U8Array, U64] },
  rd_kafka_conf_set_events: { ...lib, retType: Void, paramsType: [Ptr, I32] },
  rd_kafka_new: { ...lib, retType: Ptr, paramsType: [I32, Ptr, U8Array, U64] },
  rd_kafka_mock_cluster_new: { ...lib, retType: Ptr, paramsType: [Ptr, I32] },
  rd_kafka_mock_cluster_bootstraps: { ...lib, retType: Str, paramsType: [Ptr] },
  rd_kafka_mock_topic_create: { ...lib, retType: I32, paramsType: [Ptr, Str, I32, I32] },
  rd_kafka_mock_broker_set_down: { ...lib, retType: I32, paramsType: [Ptr, I32] },
  rd_kafka_mock_broker_set_up: { ...lib, retType: I32, paramsType: [Ptr, I32] },
  rd_kafka_topic_new: { ...lib, retType: Ptr, paramsType: [Ptr, Str, U64] },
  rd_kafka_queue_get_main: { ...lib, retType: Ptr, paramsType: [Ptr] },
  // Off the main thread, so waiting for delivery reports never stalls the control endpoint.
  rd_kafka_queue_poll: { ...lib, retType: Ptr, paramsType: [Ptr, I32], runInNewThread: true },
  rd_kafka_event_type: { ...lib, retType: I32, paramsType: [Ptr] },
  rd_kafka_event_message_next: { ...lib, retType: Ptr, paramsType: [Ptr] },
  rd_kafka_event_destroy: { ...lib, retType: Void, paramsType: [Ptr] },
});

const RD_KAFKA_PRODUCER = 0;
const RD_KAFKA_EVENT_DR = 1;
const RD_KAFKA_MSG_F_COPY = 0x2;
const RD_KAFKA_PARTITION_UA = -1;
export const ERR_TOPIC_ALREADY_EXISTS = 36;

export const librdkafkaVersion = (): string => native.rd_kafka_version_str([]);
export const errorText = (code: number): string => native.rd_kafka_err2str([code]);

function newConf(settings: Record<string, string>): JsExternal {
  const conf = native.rd_kafka_conf_new([]);
  const errstr = Buffer.alloc(512);
  for (const [key, value] of Object.entries(settings)) {
    if (native.rd_kafka_conf_set([conf, key, value, errstr, errstr.length]) !== 0) {
      throw new Error(`librdkafka rejected ${key}=${value}`);
    }
  }
  return conf;
}

function newProducer(conf: JsExternal): JsExternal {
  const errstr = Buffer.alloc(512);
  const rk = native.rd_kafka_new([RD_KAFKA_PRODUCER, conf, errstr, errstr.length]);
  if (isNullPointer(rk)) throw new Error('rd_kafka_new failed');
  return rk;
}

/**
 * librdkafka's in-memory mock cluster. Limits (librdkafka 2.0): nothing on disk; each partition
 * keeps at most ~5 MB or 100k record batches (older batches are dropped); no CreateTopics,
 * DeleteTopics, DescribeConfigs, ListGroups or DescribeGroups; broker ports are chosen at
 * creation and fixed for the cluster's lifetime, so a new host means new ports.
 */
export class MockCluster {
  private readonly cluster: JsExternal;

  constructor(brokers: number) {
    // log_level 4 hides the notice that this bare handle has no bootstrap.servers.
    const rk = newProducer(newConf({ log_level: '4' }));
    this.cluster = native.rd_kafka_mock_cluster_new([rk, brokers]);
    if (isNullPointer(this.cluster)) throw new Error('rd_kafka_mock_cluster_new failed');
  }

  bootstraps(): string {
    return native.rd_kafka_mock_cluster_bootstraps([this.cluster]);
  }

  /** Returns the librdkafka error code, 0 on success. */
  createTopic(name: string, partitions: number, replicationFactor: number): number {
    return native.rd_kafka_mock_topic_create([this.cluster, name, partitions, replicationFactor]);
  }

  setBroker(id: number, up: boolean): number {
    const fn = up ? native.rd_kafka_mock_broker_set_up : native.rd_kafka_mock_broker_set_down;
    return fn([this.cluster, id]);
  }
}

export interface OutMessage {
  value: Buffer;
  key?: Buffer;
  partition?: number;
}

/**
 * rd_kafka_produce(rkt, partition, msgflags, payload, len, key, keylen, msg_opaque). Pointers the
 * host leaves unset go as a 0 U64, i.e. NULL under the x86-64 and aarch64 calling conventions:
 * that is how a message gets a null key (an empty buffer would give an empty key).
 */
function produceOne(rkt: JsExternal, partition: number, msg: OutMessage): number {
  const key = msg.key ? [msg.key, msg.key.length] : [0, 0];
  return load({
    ...lib,
    funcName: 'rd_kafka_produce',
    retType: I32,
    paramsType: [Ptr, I32, I32, U8Array, U64, msg.key ? U8Array : U64, U64, U64],
    paramsValue: [rkt, partition, RD_KAFKA_MSG_F_COPY, msg.value, msg.value.length, ...key, 0],
  });
}

/** The first field of rd_kafka_message_t is its rd_kafka_resp_err_t (int32). */
const messageError = (msg: JsExternal): number => createExternalBuffer(msg, 4).readInt32LE(0);

/**
 * A real librdkafka producer, so tests can feed topics written the way Java/librdkafka clients
 * write them (compressed record batches). Delivery reports come through the event API, which
 * needs no C callback.
 */
export class Producer {
  private readonly rk: JsExternal;
  private readonly queue: JsExternal;
  private readonly topics = new Map<string, JsExternal>();

  constructor(bootstraps: string, codec: string) {
    const conf = newConf({
      'bootstrap.servers': bootstraps,
      'compression.codec': codec,
      'linger.ms': '5',
      acks: 'all',
      'message.timeout.ms': '30000',
    });
    native.rd_kafka_conf_set_events([conf, RD_KAFKA_EVENT_DR]);
    this.rk = newProducer(conf);
    this.queue = native.rd_kafka_queue_get_main([this.rk]);
  }

  /** Produces and waits for every delivery report; returns librdkafka error texts of failures. */
  async produce(topic: string, messages: OutMessage[], timeoutMs: number): Promise<string[]> {
    const rkt = this.topicHandle(topic);
    const errors: string[] = [];
    let pending = 0;
    for (const msg of messages) {
      const rc = produceOne(rkt, msg.partition ?? RD_KAFKA_PARTITION_UA, msg);
      if (rc === 0) pending++;
      else errors.push(errorText(native.rd_kafka_last_error([])));
    }
    const deadline = Date.now() + timeoutMs;
    while (pending > 0 && Date.now() < deadline) {
      const event = await native.rd_kafka_queue_poll([this.queue, 100]);
      if (isNullPointer(event)) continue;
      if (native.rd_kafka_event_type([event]) === RD_KAFKA_EVENT_DR) {
        for (;;) {
          const msg = native.rd_kafka_event_message_next([event]);
          if (isNullPointer(msg)) break;
          pending--;
          const err = messageError(msg);
          if (err !== 0) errors.push(errorText(err));
        }
      }
      native.rd_kafka_event_destroy([event]);
    }
    if (pending > 0)
      errors.push(`${pending} message(s) without a delivery report after ${timeoutMs} ms`);
    return errors;
  }

  private topicHandle(topic: string): JsExternal {
    let rkt = this.topics.get(topic);
    if (!rkt) {
      rkt = native.rd_kafka_topic_new([this.rk, topic, 0]);
      if (isNullPointer(rkt)) throw new Error(`rd_kafka_topic_new(${topic}) failed`);
      this.topics.set(topic, rkt);
    }
    return rkt;
  }
}
