using System.Runtime.InteropServices;
using Ternion.Backends.Verification;
using Ternion.IR;
using Ternion.IR.Ternary;

namespace Ternion.OrtOps.Tests;

public class TernaryDecodeOpTests
{
    private static readonly OrtRunOptions WithOps = new() { TernionCustomOps = true };

    private static (byte[] Packed, sbyte[] Trits) RandomTrits(TernaryLayout layout, int seed)
    {
        var rng = new Random(seed);
        var trits = new sbyte[layout.ElementCount];
        for (int i = 0; i < trits.Length; i++) trits[i] = (sbyte)(rng.Next(3) - 1);
        var packed = new byte[layout.PackedBytes];
        TernaryCodec.Encode(trits, layout, packed).ThrowIfFailed("w", layout);
        return (packed, trits);
    }

    [Theory]
    [InlineData(new long[] { 700, 9 }, 0, 320)]
    [InlineData(new long[] { 9, 700 }, 1, 640)]
    [InlineData(new long[] { 3, 333, 4 }, 1, 320)]
    public void Float32_per_channel_matches_the_codec(long[] shape, int axis, int blockSize)
    {
        var layout = new TernaryLayout(shape, axis, blockSize);
        var (packed, trits) = RandomTrits(layout, 7);
        var rng = new Random(3);
        var scales = Enumerable.Range(0, (int)layout.M).Select(_ => (float)(rng.NextDouble() + 0.1)).ToArray();
        var model = OpModels.Decode(shape, axis, blockSize, DataType.Float, [layout.M]);
        var outputs = OrtRunner.Run(OpModels.Bytes(model), new Dictionary<string, RunValue>
        {
            ["packed"] = RunValue.FromArray(DataType.UInt8, [layout.M, layout.RowBytes], packed),
            ["scale"] = RunValue.FromArray(DataType.Float, [layout.M], scales),
        }, WithOps);
        var got = MemoryMarshal.Cast<byte, float>(outputs.Single().Value.Bytes).ToArray();
        var expected = new float[layout.ElementCount];
        TernaryCodec.DecodeWithLut(packed, layout, scales, expected);
        Assert.Equal(shape, outputs.Single().Value.Dims);
        Assert.Equal(expected, got);
        Assert.Contains(trits, t => t != 0);
    }

    [Theory]
    [InlineData(DataType.Float16, false)]
    [InlineData(DataType.Float16, true)]
    [InlineData(DataType.BFloat16, true)]
    [InlineData(DataType.Float, false)]
    public void Every_scale_type_and_kind_matches_the_codec(DataType type, bool perChannel)
    {
        long[] shape = [501, 6];
        var layout = new TernaryLayout(shape, 0, 320);
        var (packed, _) = RandomTrits(layout, 11);
        var rng = new Random(4);
        var scales = Enumerable.Range(0, perChannel ? (int)layout.M : 1).Select(_ => (float)(rng.NextDouble() + 0.1)).ToArray();
        byte[] scaleBytes = type switch
        {
            DataType.Float16 => MemoryMarshal.AsBytes(scales.Select(v => (Half)v).ToArray().AsSpan()).ToArray(),
            DataType.BFloat16 => MemoryMarshal.AsBytes(scales.Select(v => (ushort)(BitConverter.SingleToUInt32Bits(v) >> 16)).ToArray().AsSpan()).ToArray(),
            _ => MemoryMarshal.AsBytes(scales.AsSpan()).ToArray(),
        };
        long[] scaleDims = perChannel ? [layout.M] : [];
        var model = OpModels.Decode(shape, 0, 320, type, scaleDims);
        var outputs = OrtRunner.Run(OpModels.Bytes(model), new Dictionary<string, RunValue>
        {
            ["packed"] = RunValue.FromArray(DataType.UInt8, [layout.M, layout.RowBytes], packed),
            ["scale"] = new RunValue { ElemType = type, Dims = scaleDims, Bytes = scaleBytes },
        }, WithOps);
        var got = outputs.Single().Value.Bytes;
        byte[] expected = new byte[got.Length];
        switch (type)
        {
            case DataType.Float16:
            {
                var e = new Half[layout.ElementCount];
                TernaryCodec.DecodeWithLut(packed, layout, MemoryMarshal.Cast<byte, Half>(scaleBytes), e);
                expected = MemoryMarshal.AsBytes(e.AsSpan()).ToArray();
                break;
            }
            case DataType.BFloat16:
            {
                var e = new ushort[layout.ElementCount];
                TernaryCodec.DecodeBFloat16WithLut(packed, layout, MemoryMarshal.Cast<byte, ushort>(scaleBytes), e);
                expected = MemoryMarshal.AsBytes(e.AsSpan()).ToArray();
                break;
            }
            default:
            {
                var e = new float[layout.ElementCount];
                TernaryCodec.DecodeWithLut(packed, layout, scales, e);
                expected = MemoryMarshal.AsBytes(e.AsSpan()).ToArray();
                break;
            }
        }
        // Bit for bit, except that a zero trit decodes to +0 where the table's 0 * scale is also +0 (scales are positive).
        Assert.Equal(expected, got);
    }
}

public class TernaryDecodeBadInputTests
{
    private static readonly OrtRunOptions WithOps = new() { TernionCustomOps = true };

    private static string RunExpectingError(byte[] model, byte[] packed, long[] packedDims, float[] scale)
    {
        var e = Assert.Throws<Ternion.IR.TernionException>(() => OrtRunner.Run(model, new Dictionary<string, RunValue>
        {
            ["packed"] = RunValue.FromArray(DataType.UInt8, packedDims, packed),
            ["scale"] = RunValue.FromArray(DataType.Float, [scale.Length], scale),
        }, WithOps));
        return e.Message;
    }

    [Fact]
    public void A_reserved_byte_is_an_error_naming_the_node_and_the_offset()
    {
        var layout = new TernaryLayout([640, 3], 0, 320);
        var packed = new byte[layout.PackedBytes];
        Array.Fill(packed, TernaryLut.ZeroByte);
        packed[130] = 250;
        var model = OpModels.Bytes(OpModels.Decode([640, 3], 0, 320, DataType.Float, [3]));
        string message = RunExpectingError(model, packed, [layout.M, layout.RowBytes], [1f, 1f, 1f]);
        Assert.Contains("decode_w", message);
        Assert.Contains("offset 130", message);
        Assert.Contains("reserved", message);
    }

    [Fact]
    public void A_packed_shape_that_disagrees_with_the_attributes_is_an_error_naming_the_node()
    {
        var model = OpModels.Bytes(OpModels.Decode([640, 3], 0, 320, DataType.Float, [3]));
        var packed = new byte[3 * 64];
        Array.Fill(packed, TernaryLut.ZeroByte);
        string message = RunExpectingError(model, packed, [3, 64], [1f, 1f, 1f]);
        Assert.Contains("decode_w", message);
        Assert.Contains("[3,64]", message);
        Assert.Contains("needs [3,128]", message);
    }
}
