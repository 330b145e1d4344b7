using Ternion.Backends.Kernels;
using Ternion.IR.Ternary;

namespace Ternion.Kernels.Tests;

public class TernaryGemvTests
{
    public static TheoryData<GemvIsa, int> PathsAndThreads()
    {
        var d = new TheoryData<GemvIsa, int>();
        foreach (var isa in Reference.Paths()) { d.Add(isa, 1); d.Add(isa, 2); }
        return d;
    }

    // K: one trit, a partial byte, a partial block, exactly one block, just over, several odd sizes,
    // and BitNet-2B's two; rows not a multiple of the 8-row thread split.
    [Theory]
    [InlineData(1, 5, 320)]
    [InlineData(3, 7, 320)]
    [InlineData(9, 319, 320)]
    [InlineData(17, 320, 320)]
    [InlineData(13, 321, 320)]
    [InlineData(33, 1001, 320)]
    [InlineData(21, 2563, 640)]
    [InlineData(40, 2560, 320)]
    [InlineData(19, 6912, 320)]
    [InlineData(11, 6912, 640)]
    public void DotIsTheExactIntegerSumOnEveryPathAndThreadCount(int rows, int k, int blockSize)
    {
        var rnd = new Random(rows * 7919 + k);
        var trits = Reference.RandomTrits(rnd, rows * k);
        var packed = Reference.PackTtf1(trits, rows, k, blockSize);
        var x = Int8Vector.FromQuantized(Reference.RandomInt8(rnd, k), 1f);
        var expected = Reference.Dots(trits, rows, k, x.Values);
        foreach (var isa in Reference.Paths())
            foreach (int threads in new[] { 1, 2 })
            {
                var dots = new int[rows];
                TernaryGemv.Dot(packed, TernaryLayout.Matrix(rows, k, blockSize), x, dots, new GemvOptions(threads, isa));
                Reference.Equal(expected, dots);
            }
    }

    [Fact]
    public void EveryByteValueDecodesToItsFiveTrits()
    {
        // Row r holds byte value r in every position, so a wrong digit for any of the 243 values shows as a wrong row.
        const int k = 5 * 64 * 3;
        var rows = TernaryLut.FirstReservedByte;
        var trits = new sbyte[rows * k];
        for (int b = 0; b < rows; b++)
            for (int e = 0; e < k; e++) trits[b * k + e] = TernaryLut.Row((byte)b)[e % 5];
        var packed = Reference.PackTtf1(trits, rows, k);
        Assert.Equal(Enumerable.Range(0, rows).Select(b => (byte)b), packed.Where((_, i) => i % (k / 5) == 0));
        var x = Int8Vector.FromQuantized(Reference.RandomInt8(new Random(3), k), 1f);
        var expected = Reference.Dots(trits, rows, k, x.Values);
        foreach (var isa in Reference.Paths())
        {
            var dots = new int[rows];
            TernaryGemv.Dot(packed, TernaryLayout.Matrix(rows, k), x, dots, new GemvOptions(1, isa));
            Reference.Equal(expected, dots);
        }
    }

    [Theory]
    [MemberData(nameof(PathsAndThreads))]
    public void LargestSumsDoNotOverflowThe16BitPartials(GemvIsa isa, int threads)
    {
        // All +1 against all +127 (and all -1 against +127) is the largest |sum| per 16-bit lane.
        const int k = 6912;
        var trits = new sbyte[2 * k];
        for (int e = 0; e < k; e++) { trits[e] = 1; trits[k + e] = -1; }
        var packed = Reference.PackTtf1(trits, 2, k);
        var x = Int8Vector.FromQuantized(Enumerable.Repeat((sbyte)127, k).ToArray(), 1f);
        var dots = new int[2];
        TernaryGemv.Dot(packed, TernaryLayout.Matrix(2, k), x, dots, new GemvOptions(threads, isa));
        Assert.Equal(new[] { 127 * k, -127 * k }, dots);
    }

    [Theory]
    [MemberData(nameof(PathsAndThreads))]
    public void MultiplyScalesPerTensorAndPerChannel(GemvIsa isa, int threads)
    {
        const int rows = 37, k = 777;
        var rnd = new Random(11);
        var trits = Reference.RandomTrits(rnd, rows * k);
        var packed = Reference.PackTtf1(trits, rows, k);
        var xf = Reference.RandomFloats(rnd, k, 3f);
        var x = Int8Vector.Quantize(xf);
        var dots = Reference.Dots(trits, rows, k, x.Values);
        float[][] scaleSets = [[0.37f], Reference.RandomFloats(rnd, rows, 2f)];
        foreach (var scales in scaleSets)
        {
            var y = new float[rows];
            TernaryGemv.Multiply(packed, TernaryLayout.Matrix(rows, k), scales, x, y, new GemvOptions(threads, isa));
            Reference.Close(Reference.Scaled(dots, scales, x.Scale), y, 1e-6);
            // The float overload quantizes exactly as Int8Vector does.
            var y2 = new float[rows];
            TernaryGemv.Multiply(packed, TernaryLayout.Matrix(rows, k), scales, xf, y2, new GemvOptions(threads, isa));
            Assert.Equal(y, y2);
        }
    }

    [Fact]
    public void AMatMulWeightPackedAlongAxis0MultipliesLikeTheDenseMatrix()
    {
        // W of shape [K, N] feeding MatMul(X, W): packed along K, so row n of the packed tensor is column n of W.
        const int k = 700, n = 24;
        var rnd = new Random(5);
        var w = Reference.RandomTrits(rnd, k * n);
        var layout = new TernaryLayout([k, n], 0);
        var packed = new byte[layout.PackedBytes];
        Assert.True(TernaryCodec.Encode(w, layout, packed).Succeeded);
        var xf = Reference.RandomFloats(rnd, k);
        var x = Int8Vector.Quantize(xf);
        var expected = new double[n];
        for (int j = 0; j < n; j++)
        {
            long s = 0;
            for (int e = 0; e < k; e++) s += w[e * n + j] * (long)x.Values[e];
            expected[j] = s * 0.5 * x.Scale;
        }
        foreach (var isa in Reference.Paths())
        {
            var y = new float[n];
            TernaryGemv.Multiply(packed, layout, [0.5f], x, y, new GemvOptions(2, isa));
            Reference.Close(expected, y, 1e-6);
        }
    }

    [Fact]
    public void VectorAndScalarPathsAgreeOnBitNetShapes()
    {
        if (!GemvOptions.Avx2Available) return; // nothing to compare on a CPU without AVX2
        var rnd = new Random(2);
        foreach (var (rows, k) in new[] { (96, 2560), (40, 6912) })
        {
            var trits = Reference.RandomTrits(rnd, rows * k);
            var packed = Reference.PackTtf1(trits, rows, k);
            var x = Int8Vector.Quantize(Reference.RandomFloats(rnd, k));
            var scalar = new int[rows];
            var vector = new int[rows];
            TernaryGemv.Dot(packed, TernaryLayout.Matrix(rows, k), x, scalar, new GemvOptions(1, GemvIsa.Scalar));
            TernaryGemv.Dot(packed, TernaryLayout.Matrix(rows, k), x, vector, new GemvOptions(2, GemvIsa.Avx2));
            Assert.Equal(scalar, vector);
        }
    }

    [Fact]
    public void ReorderPutsDigitPlaneIOfByteP()
    {
        // Element e of the chunk sits in byte e / 5, digit e % 5: plane (e % 5), position (e / 5).
        var q = Enumerable.Range(0, 170).Select(i => (sbyte)(i % 127 + 1)).ToArray();
        var buf = new sbyte[64 * 5];
        unsafe
        {
            fixed (sbyte* p = buf) TernaryGemv.Reorder(q, 64, p);
        }
        for (int e = 0; e < 320; e++)
        {
            int chunk = e / 160, inChunk = e % 160;
            sbyte expected = e < q.Length ? q[e] : (sbyte)0;
            Assert.Equal(expected, buf[160 * chunk + 32 * (inChunk % 5) + inChunk / 5]);
        }
    }

    [Fact]
    public void BadArgumentsAreRefused()
    {
        var layout = TernaryLayout.Matrix(4, 10);
        var packed = new byte[layout.PackedBytes];
        var x = Int8Vector.FromQuantized(new sbyte[10], 1f);
        Assert.Throws<ArgumentException>(() => TernaryGemv.Dot(packed.AsSpan(1), layout, x, new int[4]));
        Assert.Throws<ArgumentException>(() => TernaryGemv.Dot(packed, layout, Int8Vector.FromQuantized(new sbyte[9], 1f), new int[4]));
        Assert.Throws<ArgumentException>(() => TernaryGemv.Dot(packed, layout, x, new int[3]));
        Assert.Throws<ArgumentException>(() => TernaryGemv.Multiply(packed, layout, new float[2], x, new float[4]));
        Assert.Throws<ArgumentOutOfRangeException>(() => TernaryGemv.Dot(packed, layout, x, new int[4], new GemvOptions(-1)));
        if (!GemvOptions.Avx2Available)
            Assert.Throws<PlatformNotSupportedException>(() => TernaryGemv.Dot(packed, layout, x, new int[4], new GemvOptions(1, GemvIsa.Avx2)));
    }
}
