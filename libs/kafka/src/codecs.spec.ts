import { CompressionCodecs, CompressionTypes } from 'kafkajs';
import { compressFrame } from 'lz4-napi';
import { lz4Codec, registerCompressionCodecs, zstdCodec } from './codecs';

describe('compression codecs', () => {
  it('registers snappy, lz4 and zstd with kafkajs, twice without harm', () => {
    registerCompressionCodecs();
    registerCompressionCodecs();
    expect(CompressionCodecs[CompressionTypes.LZ4]).toBe(lz4Codec);
    expect(CompressionCodecs[CompressionTypes.ZSTD]).toBe(zstdCodec);
    expect(CompressionCodecs[CompressionTypes.Snappy]).toBeDefined();
  });

  it('reads LZ4 frames (the format librdkafka and Java write)', async () => {
    const data = Buffer.from('{"event_id":"a"}'.repeat(1000));
    const frame = await compressFrame(data);
    expect(frame.readUInt32LE(0)).toBe(0x184d2204);
    expect(await lz4Codec().decompress(frame)).toEqual(data);
  });

  it('decompresses zstd and refuses to compress', async () => {
    // `echo -n hello | zstd -c | xxd -i`: a frame as the zstd CLI (libzstd) writes it.
    const frame = Buffer.from([
      0x28, 0xb5, 0x2f, 0xfd, 0x04, 0x58, 0x29, 0x00, 0x00, 0x68, 0x65, 0x6c, 0x6c, 0x6f, 0xa3,
      0x6d, 0x9f, 0x88,
    ]);
    expect((await zstdCodec().decompress(frame)).toString()).toBe('hello');
    await expect(zstdCodec().compress({ buffer: Buffer.from('x') })).rejects.toThrow(
      'not supported',
    );
  });
});
