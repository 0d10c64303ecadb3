import { CompressionCodecs, CompressionTypes } from 'kafkajs';
import SnappyCodec from 'kafkajs-snappy';
import { compressFrame, decompressFrame } from 'lz4-napi';
import { decompress as zstdDecompress } from 'fzstd';

/** The shape kafkajs expects from a codec factory (its typings say `any`). */
export interface KafkaCodec {
  compress(encoder: { buffer: Buffer }): Promise<Buffer>;
  decompress(buffer: Buffer): Promise<Buffer>;
}

/** Raised by codecs Sluice only needs one way (it reads topics, it never produces them). */
export class CodecNotSupportedError extends Error {
  constructor(what: string) {
    super(what);
    this.name = 'CodecNotSupportedError';
  }
}

/**
 * LZ4 as Kafka writes it since message format v1: the LZ4 *frame* format (librdkafka and the Java
 * client both write frames; kafkajs-lz4's block format would not read them).
 */
export function lz4Codec(): KafkaCodec {
  return {
    compress: (encoder) => compressFrame(encoder.buffer),
    decompress: (buffer) => decompressFrame(buffer),
  };
}

/**
 * ZSTD decompression in pure JS (fzstd): native zstd bindings need downloads at install time.
 * fzstd reads concatenated frames and frames without a content size, both of which producers
 * write.
 */
export function zstdCodec(): KafkaCodec {
  return {
    compress: () => Promise.reject(new CodecNotSupportedError('zstd compression is not supported')),
    decompress: (buffer) => {
      try {
        const out = zstdDecompress(buffer);
        return Promise.resolve(Buffer.from(out.buffer, out.byteOffset, out.byteLength));
      } catch (err) {
        return Promise.reject(err instanceof Error ? err : new Error(String(err)));
      }
    },
  };
}

/**
 * Registers snappy, lz4 and zstd with kafkajs (gzip is built in). kafkajs keeps codecs in a
 * process-wide table, so registering again changes nothing.
 */
export function registerCompressionCodecs(): void {
  const codecs = CompressionCodecs as Record<CompressionTypes, () => KafkaCodec>;
  codecs[CompressionTypes.Snappy] = SnappyCodec;
  codecs[CompressionTypes.LZ4] = lz4Codec;
  codecs[CompressionTypes.ZSTD] = zstdCodec;
}
