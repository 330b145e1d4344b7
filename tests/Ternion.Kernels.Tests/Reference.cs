using Ternion.Backends.Kernels;
using Ternion.IR.Ternary;

namespace Ternion.Kernels.Tests;

/// <summary>Random test data and the straightforward sums the kernels must reproduce.</summary>
internal static class Reference
{
    /// <summary>The code paths this CPU can run: always scalar, and AVX2 where present.</summary>
    public static IEnumerable<GemvIsa> Paths()
    {
        yield return GemvIsa.Scalar;
        if (GemvOptions.Avx2Available) yield return GemvIsa.Avx2;
        if (GemvOptions.Avx512Available) yield return GemvIsa.Avx512;
    }

    public static sbyte[] RandomTrits(Random rnd, int count, double zeroFraction = 1.0 / 3)
    {
        var t = new sbyte[count];
        for (int i = 0; i < count; i++)
            t[i] = rnd.NextDouble() < zeroFraction ? (sbyte)0 : (sbyte)(rnd.Next(2) * 2 - 1);
        return t;
    }

    public static sbyte[] RandomInt8(Random rnd, int count)
    {
        var q = new sbyte[count];
        for (int i = 0; i < count; i++) q[i] = (sbyte)rnd.Next(-127, 128);
        return q;
    }

    public static float[] RandomFloats(Random rnd, int count, float range = 1)
    {
        var x = new float[count];
        for (int i = 0; i < count; i++) x[i] = (float)(rnd.NextDouble() * 2 - 1) * range;
        return x;
    }

    /// <summary>TTF1 bytes of a [rows, k] trit matrix, packed by the project's codec.</summary>
    public static byte[] PackTtf1(sbyte[] trits, int rows, int k, int blockSize = TernaryLayout.DefaultBlockSize)
    {
        var layout = TernaryLayout.Matrix(rows, k, blockSize);
        var packed = new byte[layout.PackedBytes];
        var r = TernaryCodec.Encode(trits, layout, packed);
        Assert.True(r.Succeeded, r.ToString());
        return packed;
    }

    /// <summary>sum_k t[m,k] q[k] in 64-bit integers, row by row.</summary>
    public static long[] Dots(sbyte[] trits, int rows, int k, ReadOnlySpan<sbyte> q)
    {
        var d = new long[rows];
        for (int m = 0; m < rows; m++)
        {
            long s = 0;
            for (int e = 0; e < k; e++) s += (long)trits[m * k + e] * q[e];
            d[m] = s;
        }
        return d;
    }

    /// <summary>What a float result should be: the exact dot, scaled in double.</summary>
    public static double[] Scaled(long[] dots, float[] scales, float xScale)
    {
        var y = new double[dots.Length];
        for (int m = 0; m < dots.Length; m++) y[m] = dots[m] * (double)scales[scales.Length == 1 ? 0 : m] * xScale;
        return y;
    }

    public static void Close(double[] expected, ReadOnlySpan<float> actual, double relative)
    {
        double norm = expected.Length == 0 ? 0 : expected.Max(Math.Abs);
        for (int m = 0; m < expected.Length; m++)
            Assert.True(Math.Abs(actual[m] - expected[m]) <= relative * Math.Max(norm, 1e-30),
                $"row {m}: expected {expected[m]:R}, got {actual[m]:R} (largest |y| {norm:R})");
    }

    public static void Equal(long[] expected, ReadOnlySpan<int> actual)
    {
        for (int m = 0; m < expected.Length; m++)
            Assert.True(expected[m] == actual[m], $"row {m}: expected {expected[m]}, got {actual[m]}");
    }
}
