using System.Security.Cryptography;
using Ternion.IR.Ternary;

namespace Ternion.IR.Tests.Ternary;

/// <summary>The fixed facts of the TTF1 spec: LUT, test vectors, sizes, padding, metadata keys.</summary>
public class TernaryFormatTests
{
    [Fact]
    public void LutHasTheSpecsSha256()
    {
        var bytes = System.Runtime.InteropServices.MemoryMarshal.AsBytes(TernaryLut.Table);
        Assert.Equal(1280, bytes.Length);
        Assert.Equal(TernaryLut.Sha256Hex, Convert.ToHexStringLower(SHA256.HashData(bytes)));
        Assert.Equal("64cb0b7049af10b0402fc25f5ae0c0324ed52aa53b2aa17dcd5a7f0691504f06", TernaryLut.Sha256Hex);
    }

    [Fact]
    public void LutRowsFollowTheFormulaAndReservedRowsAreZero()
    {
        for (int b = 0; b < 256; b++)
        {
            var row = TernaryLut.Row((byte)b);
            for (int i = 0; i < 5; i++)
            {
                int expected = b < 243 ? (b / (int)Math.Pow(3, i)) % 3 - 1 : 0;
                Assert.Equal(expected, row[i]);
            }
        }
    }

    [Fact]
    public void MetadataKeysAreTheSpecs()
    {
        Assert.Equal("ternion.format", TernaryLut.FormatKey);
        Assert.Equal("TTF1", TernaryLut.FormatName);
        Assert.Equal("ternion.lut_sha256", TernaryLut.Sha256Key);
    }

    public static TheoryData<sbyte[], byte> SpecVectors => new()
    {
        { new sbyte[] { -1, -1, -1, -1, -1 }, 0x00 },
        { new sbyte[] { 0, 0, 0, 0, 0 }, 0x79 },
        { new sbyte[] { 1, 1, 1, 1, 1 }, 0xF2 },
        { new sbyte[] { 1, 0, -1, -1, -1 }, 0x05 },
        { new sbyte[] { 1, -1, 0, -1, 1 }, 0xAD },
        { new sbyte[] { 0, 1, -1, 0, 1 }, 0xC4 },
    };

    [Theory]
    [MemberData(nameof(SpecVectors))]
    public void SpecTestVectorsEncodeAndDecode(sbyte[] trits, byte expected)
    {
        foreach (var (name, o) in Configs.All())
        {
            // One row of 5 trits: the vector's byte, then 63 padding bytes.
            var L = TernaryLayout.Matrix(1, 5);
            var packed = new byte[L.PackedBytes];
            var r = TernaryCodec.Encode<TritKind, byte>(System.Runtime.InteropServices.MemoryMarshal.AsBytes(trits.AsSpan()), L, [1], packed, o);
            Assert.True(r.Succeeded, name);
            Assert.Equal(expected, packed[0]);
            Assert.All(packed[1..], b => Assert.Equal(0x79, b));

            var back = new sbyte[5];
            TernaryCodec.Decode<TritKind, byte>(packed, L, [1], System.Runtime.InteropServices.MemoryMarshal.AsBytes(back.AsSpan()), "v", o);
            Assert.Equal(trits, back);
        }
        Assert.Equal(trits, TernaryLut.Row(expected).ToArray());
    }

    [Fact]
    public void SpecVectorsRepeatedAcrossAWholeRowGoThroughTheVectorKernels()
    {
        // 64 vectors per row so every vector kernel sees each test byte at many offsets.
        var vectors = SpecVectors.Select(row => ((sbyte[])row[0], (byte)row[1])).ToArray();
        const int K = 320 * 3;
        var trits = new sbyte[2 * K];
        var expected = new byte[2 * 192];
        for (int j = 0; j < 2 * K / 5; j++)
        {
            var (t, b) = vectors[(j * 7) % vectors.Length];
            t.CopyTo(trits, 5 * j);
            expected[j] = b;
        }
        foreach (var (name, o) in Configs.All())
        {
            var L = TernaryLayout.Matrix(2, K);
            var packed = new byte[L.PackedBytes];
            Assert.True(TernaryCodec.Encode<TritKind, byte>(System.Runtime.InteropServices.MemoryMarshal.AsBytes(trits.AsSpan()), L, [1], packed, o).Succeeded);
            Assert.Equal(expected, packed);
            var back = new float[2 * K];
            TernaryCodec.Decode<Float32Kind, uint>(packed, L, [BitConverter.SingleToUInt32Bits(1f)],
                System.Runtime.InteropServices.MemoryMarshal.Cast<float, uint>(back.AsSpan()), "v", o);
            Assert.Equal(trits.Select(t => (float)t), back);
        }
    }

    [Theory]
    [InlineData(1, 7, 320)]
    [InlineData(319, 3, 320)]
    [InlineData(320, 5, 320)]
    [InlineData(321, 2, 320)]
    [InlineData(2560, 3, 320)]
    [InlineData(6912, 2, 320)]
    [InlineData(639, 4, 640)]
    [InlineData(640, 1, 640)]
    [InlineData(641, 3, 640)]
    public void PackedSizeIsNTimesBlocksTimesBlockBytesForAKByNWeight(long k, long n, int bs)
    {
        long expected = n * ((k + bs - 1) / bs) * (bs / 5);
        var matmul = new TernaryLayout([k, n], 0, bs);
        Assert.Equal(k, matmul.K);
        Assert.Equal(n, matmul.M);
        Assert.Equal(expected, matmul.PackedBytes);
        Assert.Equal(0, matmul.RowBytes % 64);

        // The Gemm transB=1 form of the same weight packs to the same size.
        Assert.Equal(expected, new TernaryLayout([n, k], 1, bs).PackedBytes);

        // And the encoder fills exactly that many bytes, the rest of the row being 0x79.
        var w = new float[k * n];
        for (int i = 0; i < w.Length; i++) w[i] = (i % 3) - 1;
        var packed = new byte[expected];
        Assert.True(TernaryCodec.Encode(w, matmul, 1f, packed).Succeeded);
        for (long m = 0; m < n; m++)
        {
            var row = packed.AsSpan((int)(m * matmul.RowBytes), (int)matmul.RowBytes);
            Assert.True(row[(int)((k + 4) / 5)..].IndexOfAnyExcept((byte)0x79) < 0, $"row {m}: whole padding bytes must be 0x79");
        }
    }

    [Fact]
    public void PartialLastByteIsPaddedWithZeroTritsAndWholePaddingBytesAre0x79()
    {
        // K = 7: byte 0 holds trits 0-4, byte 1 holds trits 5, 6 and three zero trits.
        var w = new float[] { 1, 1, 1, 1, 1, -1, 1 };
        var L = TernaryLayout.Matrix(1, 7);
        var packed = new byte[L.PackedBytes];
        Assert.True(TernaryCodec.Encode(w, L, 1f, packed).Succeeded);
        Assert.Equal(0xF2, packed[0]);
        Assert.Equal(0 + 2 * 3 + 1 * 9 + 1 * 27 + 1 * 81, packed[1]);
        Assert.All(packed[2..], b => Assert.Equal(0x79, b));
        Assert.Equal(64, packed.Length);
    }

    [Fact]
    public void LayoutDerivesChannelsInRowMajorOrderOfTheOtherDims()
    {
        var L = new TernaryLayout([2, 700, 3], 1);
        Assert.Equal(700, L.K);
        Assert.Equal(6, L.M);
        Assert.Equal(2, L.Outer);
        Assert.Equal(3, L.Inner);
        Assert.Equal(3, L.BlocksPerRow);
        Assert.Equal(192, L.RowBytes);
        Assert.Equal(6 * 192, L.PackedBytes);
        Assert.Equal(140, L.DataBytesPerRow);
        Assert.Equal(TernaryLayout.Matrix(6, 700), L.AsMatrix());
    }

    [Theory]
    [InlineData(256)]
    [InlineData(0)]
    [InlineData(321)]
    [InlineData(1280)]
    public void OnlyBlockSizes320And640AreAccepted(int bs)
    {
        var e = Assert.Throws<TernionException>(() => new TernaryLayout([10, 10], 0, bs));
        Assert.Contains(bs.ToString(), e.Message);
    }

    [Fact]
    public void AxisAndShapeAreValidated()
    {
        Assert.Throws<TernionException>(() => new TernaryLayout([10, 10], 2));
        Assert.Throws<TernionException>(() => new TernaryLayout([10, 10], -1));
        Assert.Throws<TernionException>(() => new TernaryLayout([], 0));
        Assert.Throws<TernionException>(() => new TernaryLayout([10, -1], 0));
        Assert.Throws<TernionException>(() => new TernaryLayout([long.MaxValue / 2, 3], 0));
        // 'with' skips the constructor's checks; the codec checks again.
        var bad = TernaryLayout.Matrix(2, 5) with { BlockSize = 100 };
        Assert.Throws<TernionException>(() => TernaryCodec.Encode(new float[10], bad, 1f, new byte[1000]));
        Assert.Throws<TernionException>(() => TernaryCodec.Decode(new byte[128], default, 1f, new float[10]));
    }

    [Fact]
    public void LayoutsCompareByShapeContentsAndCopyTheShape()
    {
        var shape = new long[] { 4, 640 };
        var a = new TernaryLayout(shape, 1, 640);
        shape[0] = 99;
        Assert.Equal(4, a.Shape[0]);
        Assert.Equal(new TernaryLayout([4, 640], 1, 640), a);
        Assert.Equal(new TernaryLayout([4, 640], 1, 640).GetHashCode(), a.GetHashCode());
        Assert.NotEqual(new TernaryLayout([4, 640], 1, 320), a);
        Assert.NotEqual(new TernaryLayout([4, 640], 0, 640), a);
    }

    [Fact]
    public void EmptyTensorsPackToNothing()
    {
        foreach (var shape in new long[][] { [0, 5], [5, 0], [3, 0, 2] })
        {
            var L = new TernaryLayout(shape, 1);
            var packed = new byte[L.PackedBytes];
            Assert.True(TernaryCodec.Encode(new float[L.ElementCount], L, 1f, packed).Succeeded);
            TernaryCodec.Decode(packed, L, 1f, new float[L.ElementCount]);
        }
    }

    [Fact]
    public void DigitMultipliersGiveEveryDigitOfEveryByte()
    {
        var c = TernaryKernels.DigitMultipliers;
        for (int b = 0; b < 243; b++)
            for (int i = 0; i < 5; i++)
            {
                int y = (b * c[i]) & 0xFFFF;
                Assert.Equal(b / (int)Math.Pow(3, i) % 3, (y * 3) >> 16);
            }
    }

    [Fact]
    public void CombineMultiplierPacksAnyFiveDigitsWhateverFollowsThem()
    {
        var rng = new Random(5);
        for (int b = 0; b < 243; b++)
        {
            ulong x = 0;
            for (int i = 0; i < 5; i++) x |= (ulong)(b / (int)Math.Pow(3, i) % 3) << (8 * i);
            // The three bytes after the group belong to the next one (or are junk): they must not matter.
            x |= (ulong)rng.Next(1 << 24) << 40;
            Assert.Equal(b, (int)(byte)((x * TernaryKernels.CombineMultiplier) >> 32));
        }
    }
}
