using System.Numerics;
using System.Runtime.InteropServices;
using Ternion.IR;

namespace Ternion.Passes.Ternary;

/// <summary>What a scan of a candidate weight found.</summary>
public sealed class ScanResult
{
    public bool IsTernary { get; init; }
    /// <summary>True when one magnitude serves the whole tensor.</summary>
    public bool PerTensor { get; init; }
    /// <summary>Scale bits per channel (raw IEEE bits of the element type, positive); length 1 when per-tensor.</summary>
    public ulong[] ScaleBits { get; init; } = [];
    /// <summary>Why it is not ternary (a near-miss reads "1 of 51,200 elements is 0.0213 at [3, 7]").</summary>
    public string? Reason { get; init; }
}

/// <summary>
/// Decides whether a float tensor is ternary: every element 0 or plus/minus one magnitude, either one
/// magnitude for the whole tensor or one per channel (the dims other than the packed axis). Works on
/// raw bits so equality is exact; NaN and infinity never count. One vectorised pass over the data.
/// </summary>
public static class TernaryScan
{
    /// <summary>Beyond this many mismatches the scan stops: the tensor is plainly dense, not a near-miss.</summary>
    private const long GiveUpAfter = 64;

    public static ScanResult Scan(ReadOnlySpan<byte> data, DataType type, long[] shape, int axis) => type switch
    {
        DataType.Float => Scan<uint>(MemoryMarshal.Cast<byte, uint>(data), 0x7FFF_FFFFu, 0x7F80_0000u, type, shape, axis),
        DataType.Double => Scan<ulong>(MemoryMarshal.Cast<byte, ulong>(data), 0x7FFF_FFFF_FFFF_FFFFul, 0x7FF0_0000_0000_0000ul, type, shape, axis),
        DataType.Float16 => Scan<ushort>(MemoryMarshal.Cast<byte, ushort>(data), (ushort)0x7FFF, (ushort)0x7C00, type, shape, axis),
        DataType.BFloat16 => Scan<ushort>(MemoryMarshal.Cast<byte, ushort>(data), (ushort)0x7FFF, (ushort)0x7F80, type, shape, axis),
        _ => new ScanResult { Reason = $"element type {DataTypes.ShortName(type)} is not float32, float16, bfloat16 or double" },
    };

    private static ScanResult Scan<T>(ReadOnlySpan<T> a, T absMask, T expMask, DataType type, long[] shape, int axis)
        where T : unmanaged, IBinaryInteger<T>, IUnsignedNumber<T>
    {
        long k = shape[axis];
        long outer = 1, inner = 1;
        for (int d = 0; d < axis; d++) outer *= shape[d];
        for (int d = axis + 1; d < shape.Length; d++) inner *= shape[d];
        long channels = outer * inner;
        if (channels > int.MaxValue) return new ScanResult { Reason = "too many channels" };
        var scale = new T[channels];
        long mismatches = 0, firstBad = -1;
        int vec = Vector<T>.Count;
        var vMask = new Vector<T>(absMask);

        // Packed along the last axis, a channel is one contiguous row: scan it with whole vectors.
        if (inner == 1)
        {
            for (long o = 0; o < outer && mismatches <= GiveUpAfter; o++)
            {
                var row = a.Slice((int)(o * k), (int)k);
                int j = 0;
                T sc = T.Zero;
                for (; j + vec <= row.Length; j += vec)
                {
                    var v = new Vector<T>(row[j..]) & vMask;
                    if (sc == T.Zero)
                    {
                        // The channel's magnitude is its first non-zero element's.
                        for (int t = 0; t < vec && sc == T.Zero; t++) sc = v[t];
                    }
                    var bad = ~Vector.Equals(v, Vector<T>.Zero) & ~Vector.Equals(v, new Vector<T>(sc));
                    if (bad != Vector<T>.Zero)
                        for (int t = 0; t < vec; t++)
                            if (bad[t] != T.Zero) { mismatches++; if (firstBad < 0) firstBad = o * k + j + t; }
                }
                for (; j < row.Length; j++)
                {
                    T v = row[j] & absMask;
                    if (v == T.Zero) continue;
                    if (sc == T.Zero) sc = v;
                    else if (v != sc) { mismatches++; if (firstBad < 0) firstBad = o * k + j; }
                }
                scale[o] = sc;
            }
        }
        // Element (o, kk, j) sits at ((o * K) + kk) * inner + j and belongs to channel o * inner + j:
        // each run of `inner` contiguous elements meets `inner` consecutive channels.
        else for (long o = 0; o < outer && mismatches <= GiveUpAfter; o++)
        {
            var sc = scale.AsSpan((int)(o * inner), (int)inner);
            for (long kk = 0; kk < k && mismatches <= GiveUpAfter; kk++)
            {
                var row = a.Slice((int)((o * k + kk) * inner), (int)inner);
                int j = 0;
                for (; j + vec <= row.Length; j += vec)
                {
                    var v = new Vector<T>(row[j..]) & vMask;
                    var s = new Vector<T>(sc[j..]);
                    // An unseen channel takes the first non-zero magnitude it meets.
                    var take = Vector.Equals(s, Vector<T>.Zero) & ~Vector.Equals(v, Vector<T>.Zero);
                    s = Vector.ConditionalSelect(take, v, s);
                    s.CopyTo(sc[j..]);
                    var bad = ~Vector.Equals(v, Vector<T>.Zero) & ~Vector.Equals(v, s);
                    if (bad != Vector<T>.Zero)
                        for (int t = 0; t < vec; t++)
                            if (bad[t] != T.Zero) { mismatches++; if (firstBad < 0) firstBad = (o * k + kk) * inner + j + t; }
                }
                for (; j < row.Length; j++)
                {
                    T v = row[j] & absMask;
                    if (v == T.Zero) continue;
                    if (sc[j] == T.Zero) sc[j] = v;
                    else if (v != sc[j]) { mismatches++; if (firstBad < 0) firstBad = (o * k + kk) * inner + j; }
                }
            }
        }

        long total = a.Length;
        // NaN and infinity never count, not even as a scale.
        for (int m = 0; m < scale.Length; m++)
            if ((scale[m] & expMask) == expMask)
                return new ScanResult { Reason = $"holds {(((scale[m] & ~expMask) != T.Zero) ? "NaN" : "infinity")} (channel {m})" };

        T? common = MostCommonNonZero(scale);
        if (common is null) return new ScanResult { Reason = "all elements are zero" };
        if (mismatches > 0)
            return new ScanResult { Reason = NearMiss(a, absMask, common.Value, type, shape, total, mismatches, firstBad) };

        bool perTensor = scale.All(s => s == T.Zero || s == common.Value);
        var bits = perTensor
            ? [ulong.CreateTruncating(common.Value)]
            : scale.Select(s => ulong.CreateTruncating(s == T.Zero ? One<T>(type) : s)).ToArray();
        return new ScanResult { IsTernary = true, PerTensor = perTensor, ScaleBits = bits };
    }

    /// <summary>Bits of 1.0 in the element type: the scale of an all-zero channel.</summary>
    private static T One<T>(DataType type) where T : IBinaryInteger<T> => type switch
    {
        DataType.Float => T.CreateTruncating(0x3F80_0000u),
        DataType.Double => T.CreateTruncating(0x3FF0_0000_0000_0000ul),
        DataType.Float16 => T.CreateTruncating(0x3C00),
        _ => T.CreateTruncating(0x3F80),
    };

    private static T? MostCommonNonZero<T>(T[] scale) where T : struct, IBinaryInteger<T>
    {
        var counts = new Dictionary<T, int>();
        foreach (var s in scale) if (s != T.Zero) counts[s] = counts.GetValueOrDefault(s) + 1;
        if (counts.Count == 0) return null;
        return counts.MaxBy(kv => kv.Value).Key;
    }

    /// <summary>
    /// Reports against the dominant magnitude: how many elements are neither 0 nor +/- it, and the first
    /// of them with its value and index. A tensor far from ternary is described briefly instead.
    /// </summary>
    private static string NearMiss<T>(ReadOnlySpan<T> a, T absMask, T common, DataType type, long[] shape, long total, long scanMismatches, long firstBad)
        where T : unmanaged, IBinaryInteger<T>
    {
        // Count against the dominant magnitude. A channel whose first non-zero element was the odd
        // one out makes the per-channel scan see many mismatches; this count sees the one.
        long count = 0, first = -1;
        for (int i = 0; i < a.Length && count <= GiveUpAfter; i++)
        {
            T v = a[i] & absMask;
            if (v != T.Zero && v != common) { count++; if (first < 0) first = i; }
        }
        if (count > GiveUpAfter)
            return $"not ternary: element {Index(first, shape)} is {Format(a[(int)first], type)}, and many more differ from 0 and ±{Format(common, type)}";
        if (count == 0) { count = scanMismatches; first = firstBad; }
        return $"{count:N0} of {total:N0} elements {(count == 1 ? "is" : "are")} not 0 or ±{Format(common, type)}: {Format(a[(int)first], type)} at {Index(first, shape)}";
    }

    private static string Index(long flat, long[] shape)
    {
        var idx = new long[shape.Length];
        for (int d = shape.Length - 1; d >= 0; d--) { idx[d] = shape[d] == 0 ? 0 : flat % shape[d]; flat = shape[d] == 0 ? 0 : flat / shape[d]; }
        return "[" + string.Join(", ", idx) + "]";
    }

    internal static string Format<T>(T bits, DataType type) where T : IBinaryInteger<T>
    {
        ulong b = ulong.CreateTruncating(bits);
        double v = type switch
        {
            DataType.Float => BitConverter.UInt32BitsToSingle((uint)b),
            DataType.Double => BitConverter.UInt64BitsToDouble(b),
            DataType.Float16 => (double)BitConverter.UInt16BitsToHalf((ushort)b),
            _ => BitConverter.UInt32BitsToSingle((uint)b << 16),
        };
        return v.ToString("G6", System.Globalization.CultureInfo.InvariantCulture);
    }
}
