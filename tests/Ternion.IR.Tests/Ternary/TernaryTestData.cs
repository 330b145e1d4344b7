using System.Numerics;
using System.Runtime.Intrinsics.X86;
using Ternion.IR.Ternary;

namespace Ternion.IR.Tests.Ternary;

/// <summary>
/// Element types as the tests see them: raw bits plus what a zero, a negated scale and a random
/// finite scale look like. Independent of the codec's own kinds so a wrong mask there shows up.
/// </summary>
public enum ElementType { Float32, Float16, BFloat16, Float64, Trit }

/// <summary>Kernel and threading configurations every round trip is run under.</summary>
public static class Configs
{
    internal static IEnumerable<(string Name, CodecOptions Options)> All()
    {
        yield return ("scalar/1 thread", new CodecOptions(TernaryKernel.Scalar, 1));
        yield return ("scalar/2 threads, chunk per unit", new CodecOptions(TernaryKernel.Scalar, 2, 0, 1));
        if (Avx2.IsSupported)
        {
            yield return ("avx2/1 thread", new CodecOptions(TernaryKernel.Avx2, 1));
            yield return ("avx2/2 threads, chunk per unit", new CodecOptions(TernaryKernel.Avx2, 2, 0, 1));
            yield return ("avx2/2 threads, 3 units per chunk", new CodecOptions(TernaryKernel.Avx2, 2, 0, 3));
            yield return ("avx2/streaming stores", new CodecOptions(TernaryKernel.Avx2, 1, StreamingMinBytes: 0));
        }
    }
}

/// <summary>A random ternary tensor: logical values (as raw bits), its trits and scales.</summary>
public sealed class TernaryCase<T> where T : unmanaged, IBinaryInteger<T>
{
    public required TernaryLayout Layout { get; init; }
    public required T[] Values { get; init; }
    public required sbyte[] Trits { get; init; }
    public required T[] Scales { get; init; }
    public required T SignMask { get; init; }
    public required T ZeroMask { get; init; }
}

public static class TernaryTestData
{
    public static int BitsOf(ElementType t) => t switch
    {
        ElementType.Float32 => 32, ElementType.Float64 => 64, ElementType.Trit => 8, _ => 16,
    };

    /// <summary>
    /// Values W = trit * scale built bit by bit: +scale, the scale with its sign flipped, or a zero of
    /// random sign. Zero runs and all-one runs are mixed in so whole bytes of 0x00, 0x79 and 0xF2 occur.
    /// </summary>
    public static TernaryCase<T> Make<T>(ElementType type, TernaryLayout layout, bool perChannel, Random rng)
        where T : unmanaged, IBinaryInteger<T>
    {
        int bits = BitsOf(type);
        T sign = type == ElementType.Trit ? T.Zero : T.One << (bits - 1);
        // T is exactly as wide as the element, so "everything but the sign" is ~sign (all bits for trits).
        T zeroMask = ~sign;
        long n = layout.ElementCount, m = layout.M;
        var scales = new T[perChannel ? m : 1];
        for (int i = 0; i < scales.Length; i++) scales[i] = type == ElementType.Trit ? T.One : RandomScale<T>(type, rng);
        var trits = new sbyte[n];
        int mode = rng.Next(4);
        for (long e = 0; e < n; e++)
        {
            trits[e] = mode switch
            {
                0 => (sbyte)(rng.Next(3) - 1),
                1 => (sbyte)(rng.Next(10) < 8 ? 0 : rng.Next(3) - 1),
                2 => (sbyte)((e / 37) % 3 - 1),
                _ => (sbyte)(rng.Next(10) < 8 ? 1 : rng.Next(3) - 1),
            };
        }
        var values = new T[n];
        long K = layout.K, inner = layout.Inner;
        for (long e = 0; e < n; e++)
        {
            long ch = e / (K * inner) * inner + e % inner;
            T s = scales[perChannel ? ch : 0];
            T negZero = type == ElementType.Trit ? T.Zero : sign;
            T negS = type == ElementType.Trit ? T.CreateTruncating(0xFF) : s ^ sign;
            values[e] = trits[e] switch { 1 => s, -1 => negS, _ => rng.Next(2) == 0 ? T.Zero : negZero };
        }
        return new TernaryCase<T> { Layout = layout, Values = values, Trits = trits, Scales = scales, SignMask = sign, ZeroMask = zeroMask };
    }

    /// <summary>Finite scales: mostly random bit patterns (subnormals and negatives included), sometimes special ones.</summary>
    public static T RandomScale<T>(ElementType type, Random rng) where T : unmanaged, IBinaryInteger<T>
    {
        int pick = rng.Next(12);
        switch (type)
        {
            case ElementType.Float32:
            {
                float f = pick switch
                {
                    0 => 1f, 1 => -1f, 2 => 0f, 3 => -0f, 4 => float.Epsilon, 5 => float.MaxValue,
                    _ => FiniteFloat(rng),
                };
                return T.CreateTruncating(BitConverter.SingleToUInt32Bits(f));
            }
            case ElementType.Float64:
            {
                double d = pick switch
                {
                    0 => 1.0, 1 => -1.0, 2 => 0.0, 3 => -0.0, 4 => double.Epsilon, 5 => double.MaxValue,
                    _ => FiniteDouble(rng),
                };
                return T.CreateTruncating(BitConverter.DoubleToUInt64Bits(d));
            }
            case ElementType.Float16:
            {
                ushort b;
                do b = (ushort)rng.Next(65536); while ((b & 0x7C00) == 0x7C00);
                if (pick == 0) b = BitConverter.HalfToUInt16Bits((Half)1);
                if (pick == 2) b = 0;
                return T.CreateTruncating(b);
            }
            case ElementType.BFloat16:
            {
                ushort b;
                do b = (ushort)rng.Next(65536); while ((b & 0x7F80) == 0x7F80);
                if (pick == 0) b = 0x3F80;
                if (pick == 2) b = 0x8000;
                return T.CreateTruncating(b);
            }
            default: return T.One;
        }
    }

    private static float FiniteFloat(Random rng)
    {
        uint b;
        do b = (uint)rng.NextInt64(0, 1L << 32); while ((b & 0x7F80_0000u) == 0x7F80_0000u);
        return BitConverter.UInt32BitsToSingle(b);
    }

    private static double FiniteDouble(Random rng)
    {
        ulong b;
        do b = (ulong)rng.NextInt64() ^ ((ulong)rng.Next(2) << 63); while ((b & 0x7FF0_0000_0000_0000UL) == 0x7FF0_0000_0000_0000UL);
        return BitConverter.UInt64BitsToDouble(b);
    }

    /// <summary>
    /// The packed bytes straight from the spec: row m holds channel m's trits in order of k, then
    /// zero trits; byte = sum of (t + 1) * 3^i. Written without any of the codec's code.
    /// </summary>
    public static byte[] ReferencePack(sbyte[] logicalTrits, long[] shape, int axis, int blockSize)
    {
        long K = shape[axis], inner = 1, outer = 1;
        for (int d = axis + 1; d < shape.Length; d++) inner *= shape[d];
        for (int d = 0; d < axis; d++) outer *= shape[d];
        long M = outer * inner;
        long nb = (K + blockSize - 1) / blockSize, rowBytes = nb * blockSize / 5;
        var packed = new byte[M * rowBytes];
        for (long m = 0; m < M; m++)
        {
            long o = m / inner, i = m % inner;
            for (long j = 0; j < rowBytes; j++)
            {
                int b = 0, w = 1;
                for (int d = 0; d < 5; d++, w *= 3)
                {
                    long k = 5 * j + d;
                    int t = k < K ? logicalTrits[(o * K + k) * inner + i] : 0;
                    b += (t + 1) * w;
                }
                packed[m * rowBytes + j] = (byte)b;
            }
        }
        return packed;
    }

    /// <summary>The trit a value stands for, as the spec defines it (zero of either sign first).</summary>
    public static sbyte[] TritsOf<T>(TernaryCase<T> c) where T : unmanaged, IBinaryInteger<T>
    {
        var L = c.Layout;
        long K = L.K, inner = L.Inner;
        var t = new sbyte[c.Values.Length];
        for (long e = 0; e < t.Length; e++)
        {
            long ch = e / (K * inner) * inner + e % inner;
            T s = c.Scales[c.Scales.Length == 1 ? 0 : ch], v = c.Values[e];
            t[e] = (v & c.ZeroMask) == T.Zero ? (sbyte)0 : v == s ? (sbyte)1 : (sbyte)-1;
        }
        return t;
    }

    /// <summary>The values a decoder must return: the originals with -0 turned into +0.</summary>
    public static T[] Canonical<T>(TernaryCase<T> c) where T : unmanaged, IBinaryInteger<T> =>
        c.Values.Select(v => (v & c.ZeroMask) == T.Zero ? T.Zero : v).ToArray();
}
