using Ternion.IR;

namespace Ternion.Passes.Constants;

internal static partial class NativeOps
{
    private static ConstTensor Cast(ConstTensor x, DataType to)
    {
        if (to == x.Type) return x.Reshaped(x.Dims);
        var from = LaneOf(x.Type);
        var toLane = LaneOf(to);
        switch (from, toLane)
        {
            case (Lane.Float, Lane.Float):
            {
                var f = ToFloatLane(x);
                return FromFloatLane(f, to);
            }
            case (Lane.Float, Lane.Double):
            {
                using var f = ToFloatLane(x);
                var r = ConstTensor.Allocate(DataType.Double, x.Dims);
                var s = f.As<float>(); var d = r.AsWritable<double>();
                for (int i = 0; i < d.Length; i++) d[i] = s[i];
                return r;
            }
            case (Lane.Double, Lane.Float):
            {
                var r = ConstTensor.Allocate(DataType.Float, x.Dims);
                var s = x.As<double>(); var d = r.AsWritable<float>();
                for (int i = 0; i < d.Length; i++) d[i] = (float)s[i];
                return FromFloatLane(r, to);
            }
            case (Lane.Float or Lane.Double, Lane.Int):
            {
                using var f = from == Lane.Float ? ToFloatLane(x) : null;
                var r = ConstTensor.Allocate(DataType.Int64, x.Dims);
                var d = r.AsWritable<long>();
                (long lo, long hi) = IntRange(to);
                for (int i = 0; i < d.Length; i++)
                {
                    double v = f is not null ? f.As<float>()[i] : x.As<double>()[i];
                    if (to == DataType.Bool) { d[i] = v != 0 || double.IsNaN(v) ? 1 : 0; continue; }
                    // Out of range (or NaN) has no defined result in C++: the runtime's business.
                    if (double.IsNaN(v) || v <= lo - 1.0 || v >= hi + 1.0)
                    {
                        r.Dispose();
                        throw new ConstantEvaluationException($"casting {v} to {DataTypes.ShortName(to)} is out of range", undefined: true);
                    }
                    d[i] = (long)Math.Truncate(v);
                }
                return FromIntLane(r, to);
            }
            case (Lane.Int, Lane.Float) when x.Type is DataType.UInt8 or DataType.Int8:
            {
                // Bytes to floats directly (unpacked trits): exact, and no 64-bit detour.
                var r = ConstTensor.Allocate(DataType.Float, x.Dims);
                var d = r.AsWritable<float>();
                if (x.Type == DataType.UInt8) { var s = x.Bytes; for (int i = 0; i < d.Length; i++) d[i] = s[i]; }
                else { var s = x.As<sbyte>(); for (int i = 0; i < d.Length; i++) d[i] = s[i]; }
                return FromFloatLane(r, to);
            }
            case (Lane.Int, Lane.Float):
            {
                using var l = ToIntLane(x);
                var r = ConstTensor.Allocate(DataType.Float, x.Dims);
                var s = l.As<long>(); var d = r.AsWritable<float>();
                for (int i = 0; i < d.Length; i++) d[i] = s[i];
                return FromFloatLane(r, to);
            }
            case (Lane.Int, Lane.Double):
            {
                using var l = ToIntLane(x);
                var r = ConstTensor.Allocate(DataType.Double, x.Dims);
                var s = l.As<long>(); var d = r.AsWritable<double>();
                for (int i = 0; i < d.Length; i++) d[i] = s[i];
                return r;
            }
            case (Lane.Double, Lane.Double):
                return x.Reshaped(x.Dims);
            default: // int to int, bool included
            {
                var l = ToIntLane(x);
                return FromIntLane(l, to);
            }
        }
    }

    private static (long Lo, long Hi) IntRange(DataType t) => t switch
    {
        DataType.Int8 => (sbyte.MinValue, sbyte.MaxValue),
        DataType.UInt8 => (0, byte.MaxValue),
        DataType.Int16 => (short.MinValue, short.MaxValue),
        DataType.UInt16 => (0, ushort.MaxValue),
        DataType.Int32 => (int.MinValue, int.MaxValue),
        DataType.UInt32 => (0, uint.MaxValue),
        DataType.Int64 => (long.MinValue / 2, long.MaxValue / 2),
        _ => (0, 1),
    };

    /// <summary>Integer elements of a quantized tensor, sub-byte types unpacked (element 0 in the lowest bits).</summary>
    internal static long[] QuantizedValues(ConstTensor t)
    {
        long n = t.ElementCount;
        var b = t.Bytes;
        var r = new long[n];
        switch (t.Type)
        {
            case DataType.Int8: { var s = t.As<sbyte>(); for (long i = 0; i < n; i++) r[i] = s[(int)i]; break; }
            case DataType.UInt8: for (long i = 0; i < n; i++) r[i] = b[(int)i]; break;
            case DataType.Int16: { var s = t.As<short>(); for (long i = 0; i < n; i++) r[i] = s[(int)i]; break; }
            case DataType.UInt16: { var s = t.As<ushort>(); for (long i = 0; i < n; i++) r[i] = s[(int)i]; break; }
            case DataType.Int32: { var s = t.As<int>(); for (long i = 0; i < n; i++) r[i] = s[(int)i]; break; }
            case DataType.Int4 or DataType.UInt4:
                for (long i = 0; i < n; i++)
                {
                    int v = (b[(int)(i >> 1)] >> (int)((i & 1) * 4)) & 0xF;
                    r[i] = t.Type == DataType.Int4 && v >= 8 ? v - 16 : v;
                }
                break;
            case DataType.Int2 or DataType.UInt2:
                for (long i = 0; i < n; i++)
                {
                    int v = (b[(int)(i >> 2)] >> (int)((i & 3) * 2)) & 0x3;
                    r[i] = t.Type == DataType.Int2 && v >= 2 ? v - 4 : v;
                }
                break;
            default:
                throw new ConstantEvaluationException($"DequantizeLinear of {DataTypes.ShortName(t.Type)}");
        }
        return r;
    }

    /// <summary>
    /// y = (x - zero_point) * scale, with one scale (and zero point) per tensor, per slice along
    /// `axis`, or per block of `block_size` elements along it. The difference is exact in integers;
    /// the product is one float32 multiplication, rounded once to the scale's type.
    /// </summary>
    private static ConstTensor Dequantize(Node n, ConstTensor x, ConstTensor scale, ConstTensor? zeroPoint)
    {
        if (scale.Type is not (DataType.Float or DataType.Float16))
            throw new ConstantEvaluationException($"a {DataTypes.ShortName(scale.Type)} scale");
        if (n.GetAttribute("output_dtype") is { } od && od.AsInt != 0 && (DataType)od.AsInt != scale.Type)
            throw new ConstantEvaluationException("output_dtype differs from the scale's type");
        if (zeroPoint is not null && zeroPoint.Type != x.Type) throw new ConstantEvaluationException("the zero point's type differs from the input's");
        int r = x.Dims.Length;
        long blockSize = n.GetInt("block_size", 0);
        var q = QuantizedValues(x);
        long[]? zp = zeroPoint is null ? null : QuantizedValues(zeroPoint);
        using var sf = ToFloatLane(scale);
        var s = sf.As<float>();
        var result = ConstTensor.Allocate(DataType.Float, x.Dims);
        var y = result.AsWritable<float>();
        if (scale.ElementCount == 1 && blockSize == 0 && scale.Dims.Length <= 1)
        {
            if (zp is not null && zp.Length != 1) throw new ConstantEvaluationException("a per-tensor scale with a zero point of another size");
            long z = zp?[0] ?? 0;
            for (long i = 0; i < q.Length; i++) y[(int)i] = (float)(q[i] - z) * s[0];
            return FromFloatLane(result, scale.Type);
        }
        if (r == 0) throw new ConstantEvaluationException("a scalar input with a non-scalar scale");
        int axis = NormalizeAxis(n.GetInt("axis", 1), r, "axis");
        long dim = x.Dims[axis];
        long inner = 1;
        for (int d = axis + 1; d < r; d++) inner *= x.Dims[d];
        if (blockSize == 0)
        {
            if (scale.Dims.Length != 1 || scale.Dims[0] != dim) throw new ConstantEvaluationException($"a scale {DimsText(scale.Dims)} for axis {axis} of {DimsText(x.Dims)}");
            if (zp is not null && zp.Length != dim) throw new ConstantEvaluationException("zero point and scale differ in size");
            for (long i = 0; i < q.Length; i++)
            {
                long c = i / inner % dim;
                y[(int)i] = (float)(q[i] - (zp?[c] ?? 0)) * s[(int)c];
            }
            return FromFloatLane(result, scale.Type);
        }
        if (blockSize < 0) throw new ConstantEvaluationException($"block_size {blockSize}");
        // Blocked: the scale has the input's shape with ceil(dim / block_size) along the axis.
        long blocks = (dim + blockSize - 1) / blockSize;
        if (scale.Dims.Length != r || scale.Dims[axis] != blocks || Enumerable.Range(0, r).Any(d => d != axis && scale.Dims[d] != x.Dims[d]))
            throw new ConstantEvaluationException($"a blocked scale {DimsText(scale.Dims)} for {DimsText(x.Dims)}, axis {axis}, block {blockSize}");
        if (zp is not null && zp.Length != scale.ElementCount) throw new ConstantEvaluationException("zero point and scale differ in size");
        for (long i = 0; i < q.Length; i++)
        {
            long inIdx = i % inner, a = i / inner % dim, outer = i / inner / dim;
            long si = (outer * blocks + a / blockSize) * inner + inIdx;
            y[(int)i] = (float)(q[i] - (zp?[si] ?? 0)) * s[(int)si];
        }
        return FromFloatLane(result, scale.Type);
    }
}
