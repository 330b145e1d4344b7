using System.Numerics;
using Ternion.IR;

namespace Ternion.Passes.Constants;

internal static partial class NativeOps
{
    internal interface IBinary<T> { static abstract T Apply(T a, T b); }

    /// <summary>An operator whose lanes round exactly as its scalar form (IEEE add, sub, mul, div).</summary>
    internal interface IVectorBinary : IBinary<float> { static abstract Vector<float> Apply(Vector<float> a, Vector<float> b); }

    private struct FAdd : IVectorBinary { public static float Apply(float a, float b) => a + b; public static Vector<float> Apply(Vector<float> a, Vector<float> b) => a + b; }
    private struct FSub : IVectorBinary { public static float Apply(float a, float b) => a - b; public static Vector<float> Apply(Vector<float> a, Vector<float> b) => a - b; }
    private struct FMul : IVectorBinary { public static float Apply(float a, float b) => a * b; public static Vector<float> Apply(Vector<float> a, Vector<float> b) => a * b; }
    private struct FDiv : IVectorBinary { public static float Apply(float a, float b) => a / b; public static Vector<float> Apply(Vector<float> a, Vector<float> b) => a / b; }

    /// <summary><see cref="Broadcast{T, TOp}"/> with whole vectors where both operands are the output's shape or one is a scalar.</summary>
    internal static void BroadcastVector<TOp>(ReadOnlySpan<float> a, long[] ad, ReadOnlySpan<float> b, long[] bd, Span<float> o, long[] od) where TOp : IVectorBinary
    {
        int w = Vector<float>.Count, i = 0;
        if (a.Length == o.Length && b.Length == o.Length)
        {
            for (; i + w <= o.Length; i += w) TOp.Apply(new Vector<float>(a[i..]), new Vector<float>(b[i..])).CopyTo(o[i..]);
            for (; i < o.Length; i++) o[i] = TOp.Apply(a[i], b[i]);
            return;
        }
        if (a.Length == o.Length && b.Length == 1)
        {
            var y = new Vector<float>(b[0]);
            for (; i + w <= o.Length; i += w) TOp.Apply(new Vector<float>(a[i..]), y).CopyTo(o[i..]);
            for (; i < o.Length; i++) o[i] = TOp.Apply(a[i], b[0]);
            return;
        }
        if (a.Length == 1 && b.Length == o.Length)
        {
            var x = new Vector<float>(a[0]);
            for (; i + w <= o.Length; i += w) TOp.Apply(x, new Vector<float>(b[i..])).CopyTo(o[i..]);
            for (; i < o.Length; i++) o[i] = TOp.Apply(a[0], b[i]);
            return;
        }
        Broadcast<float, TOp>(a, ad, b, bd, o, od);
    }
    private struct FMod : IBinary<float> { public static float Apply(float a, float b) => a % b; }
    private struct FMin : IBinary<float> { public static float Apply(float a, float b) => SignedZeros(a, b) ? throw ZeroTie() : Math.Min(a, b); }
    private struct FMax : IBinary<float> { public static float Apply(float a, float b) => SignedZeros(a, b) ? throw ZeroTie() : Math.Max(a, b); }
    private struct DAdd : IBinary<double> { public static double Apply(double a, double b) => a + b; }
    private struct DSub : IBinary<double> { public static double Apply(double a, double b) => a - b; }
    private struct DMul : IBinary<double> { public static double Apply(double a, double b) => a * b; }
    private struct DDiv : IBinary<double> { public static double Apply(double a, double b) => a / b; }
    private struct DMod : IBinary<double> { public static double Apply(double a, double b) => a % b; }
    private struct DMin : IBinary<double> { public static double Apply(double a, double b) => a == 0 && b == 0 && double.IsNegative(a) != double.IsNegative(b) ? throw ZeroTie() : Math.Min(a, b); }
    private struct DMax : IBinary<double> { public static double Apply(double a, double b) => a == 0 && b == 0 && double.IsNegative(a) != double.IsNegative(b) ? throw ZeroTie() : Math.Max(a, b); }

    /// <summary>-0 against +0: which one min/max returns depends on the implementation's operand order.</summary>
    private static bool SignedZeros(float a, float b) => a == 0 && b == 0 && float.IsNegative(a) != float.IsNegative(b);
    private static ConstantEvaluationException ZeroTie() => new("min/max/clip compare -0 with +0, where implementations differ");
    private struct IAdd : IBinary<long> { public static long Apply(long a, long b) => unchecked(a + b); }
    private struct ISub : IBinary<long> { public static long Apply(long a, long b) => unchecked(a - b); }
    private struct IMul : IBinary<long> { public static long Apply(long a, long b) => unchecked(a * b); }
    private struct IDiv : IBinary<long>
    {
        public static long Apply(long a, long b) =>
            b == 0 ? throw new ConstantEvaluationException("integer division by zero", undefined: true)
            : b == -1 && a == long.MinValue ? throw new ConstantEvaluationException("the smallest int64 divided by -1", undefined: true)
            : a / b;
    }
    private struct IFMod : IBinary<long> { public static long Apply(long a, long b) => b == 0 ? throw new ConstantEvaluationException("integer modulo by zero", undefined: true) : b == -1 ? 0 : a % b; }
    private struct IMod : IBinary<long>
    {
        // fmod=0: the result takes the divisor's sign (Python's %).
        public static long Apply(long a, long b)
        {
            if (b == 0) throw new ConstantEvaluationException("integer modulo by zero", undefined: true);
            if (b == -1) return 0;
            long r = a % b;
            return r != 0 && (r < 0) != (b < 0) ? r + b : r;
        }
    }
    private struct IMin : IBinary<long> { public static long Apply(long a, long b) => Math.Min(a, b); }
    private struct IMax : IBinary<long> { public static long Apply(long a, long b) => Math.Max(a, b); }
    private struct IAnd : IBinary<long> { public static long Apply(long a, long b) => a & b; }
    private struct IOr : IBinary<long> { public static long Apply(long a, long b) => a | b; }
    private struct IXor : IBinary<long> { public static long Apply(long a, long b) => a ^ b; }

    /// <summary>Numpy-style broadcast of shapes; throws when they do not broadcast.</summary>
    internal static long[] BroadcastDims(params long[][] shapes)
    {
        int rank = shapes.Max(s => s.Length);
        var r = new long[rank];
        for (int i = 0; i < rank; i++)
        {
            long d = 1;
            foreach (var s in shapes)
            {
                int j = i - (rank - s.Length);
                if (j < 0) continue;
                long e = s[j];
                if (e == d || e == 1) continue;
                if (d == 1) { d = e; continue; }
                throw new ConstantEvaluationException($"shapes {string.Join(" and ", shapes.Select(DimsText))} do not broadcast");
            }
            r[i] = d;
        }
        return r;
    }

    /// <summary>Element strides of <paramref name="dims"/> seen from the broadcast output shape (0 along broadcast axes).</summary>
    private static long[] BroadcastStrides(long[] dims, long[] outDims)
    {
        var s = new long[outDims.Length];
        long stride = 1;
        for (int i = dims.Length - 1; i >= 0; i--)
        {
            int o = i + outDims.Length - dims.Length;
            s[o] = dims[i] == 1 ? 0 : stride;
            stride *= dims[i];
        }
        return s;
    }

    internal static void Broadcast<T, TOp>(ReadOnlySpan<T> a, long[] ad, ReadOnlySpan<T> b, long[] bd, Span<T> o, long[] od) where TOp : IBinary<T>
    {
        if (o.Length == 0) return;
        if (a.Length == o.Length && b.Length == o.Length)
        {
            for (int i = 0; i < o.Length; i++) o[i] = TOp.Apply(a[i], b[i]);
            return;
        }
        if (a.Length == o.Length && b.Length == 1)
        {
            T y = b[0];
            for (int i = 0; i < o.Length; i++) o[i] = TOp.Apply(a[i], y);
            return;
        }
        if (a.Length == 1 && b.Length == o.Length)
        {
            T x = a[0];
            for (int i = 0; i < o.Length; i++) o[i] = TOp.Apply(x, b[i]);
            return;
        }
        int rank = od.Length;
        var sa = BroadcastStrides(ad, od);
        var sb = BroadcastStrides(bd, od);
        long inner = od[rank - 1];
        long ia = sa[rank - 1], ib = sb[rank - 1];
        var idx = new long[rank];
        long outer = o.Length / inner;
        int pos = 0;
        for (long run = 0; run < outer; run++)
        {
            long offA = 0, offB = 0;
            for (int d = 0; d < rank - 1; d++) { offA += idx[d] * sa[d]; offB += idx[d] * sb[d]; }
            for (long j = 0; j < inner; j++) o[pos++] = TOp.Apply(a[(int)(offA + j * ia)], b[(int)(offB + j * ib)]);
            for (int d = rank - 2; d >= 0; d--) { if (++idx[d] < od[d]) break; idx[d] = 0; }
        }
    }

    internal static ConstTensor Divide(ConstTensor a, ConstTensor b, bool ownA = false) => Arithmetic("Div", a, b, ownA, false);

    /// <summary>
    /// The output buffer of a float32 element-wise operator: an input's own buffer when this node is
    /// its last reader and the shapes agree (in place), else a new one.
    /// </summary>
    private static ConstTensor Output(long[] od, ConstTensor? a, bool ownA, ConstTensor? b = null, bool ownB = false)
    {
        if (ownA && a is { Type: DataType.Float, CanReuse: true } && a.Dims.AsSpan().SequenceEqual(od)) return a.Reshaped(od);
        if (ownB && b is { Type: DataType.Float, CanReuse: true } && b.Dims.AsSpan().SequenceEqual(od)) return b.Reshaped(od);
        return ConstTensor.Allocate(DataType.Float, od);
    }

    private static ConstTensor Arithmetic(string op, ConstTensor a, ConstTensor b, bool ownA = false, bool ownB = false)
    {
        if (a.Type != b.Type) throw new ConstantEvaluationException($"{op} of {DataTypes.ShortName(a.Type)} and {DataTypes.ShortName(b.Type)}");
        var od = BroadcastDims(a.Dims, b.Dims);
        if (a.Type == DataType.Float)
        {
            // Float32 operands are read where they lie; the result may take an operand's buffer.
            var r = Output(od, a, ownA, b, ownB);
            BinaryKernel<float> k = op switch
            {
                "Add" => BroadcastVector<FAdd>, "Sub" => BroadcastVector<FSub>, "Mul" => BroadcastVector<FMul>, _ => BroadcastVector<FDiv>,
            };
            k(a.As<float>(), a.Dims, b.As<float>(), b.Dims, r.InPlaceWritable<float>(), od);
            return r;
        }
        return LaneOf(a.Type) switch
        {
            Lane.Float => FloatBinary(a, b, od, op switch
            {
                "Add" => Broadcast<float, FAdd>, "Sub" => Broadcast<float, FSub>, "Mul" => Broadcast<float, FMul>, _ => Broadcast<float, FDiv>,
            }),
            Lane.Double => DoubleBinary(a, b, od, op switch
            {
                "Add" => Broadcast<double, DAdd>, "Sub" => Broadcast<double, DSub>, "Mul" => Broadcast<double, DMul>, _ => Broadcast<double, DDiv>,
            }),
            _ => a.Type is DataType.Bool or DataType.UInt32 ? throw new ConstantEvaluationException($"{op} of {DataTypes.ShortName(a.Type)}")
                : IntBinary(a, b, od, op switch
            {
                "Add" => Broadcast<long, IAdd>, "Sub" => Broadcast<long, ISub>, "Mul" => Broadcast<long, IMul>, _ => Broadcast<long, IDiv>,
            }),
        };
    }

    private delegate void BinaryKernel<T>(ReadOnlySpan<T> a, long[] ad, ReadOnlySpan<T> b, long[] bd, Span<T> o, long[] od);

    private static ConstTensor FloatBinary(ConstTensor a, ConstTensor b, long[] od, BinaryKernel<float> k)
    {
        using var fa = ToFloatLane(a);
        using var fb = ToFloatLane(b);
        var r = ConstTensor.Allocate(DataType.Float, od);
        k(fa.As<float>(), a.Dims, fb.As<float>(), b.Dims, r.AsWritable<float>(), od);
        return FromFloatLane(r, a.Type);
    }

    private static ConstTensor DoubleBinary(ConstTensor a, ConstTensor b, long[] od, BinaryKernel<double> k)
    {
        var r = ConstTensor.Allocate(DataType.Double, od);
        k(a.As<double>(), a.Dims, b.As<double>(), b.Dims, r.AsWritable<double>(), od);
        return r;
    }

    private static ConstTensor IntBinary(ConstTensor a, ConstTensor b, long[] od, BinaryKernel<long> k, DataType? outType = null)
    {
        using var la = ToIntLane(a);
        using var lb = ToIntLane(b);
        var r = ConstTensor.Allocate(DataType.Int64, od);
        k(la.As<long>(), a.Dims, lb.As<long>(), b.Dims, r.AsWritable<long>(), od);
        return FromIntLane(r, outType ?? a.Type);
    }

    private static ConstTensor Modulo(ConstTensor a, ConstTensor b, bool fmod)
    {
        if (a.Type != b.Type) throw new ConstantEvaluationException("Mod of different types");
        var od = BroadcastDims(a.Dims, b.Dims);
        return LaneOf(a.Type) switch
        {
            Lane.Float => fmod ? FloatBinary(a, b, od, Broadcast<float, FMod>) : throw new ConstantEvaluationException("Mod of floats needs fmod=1"),
            Lane.Double => fmod ? DoubleBinary(a, b, od, Broadcast<double, DMod>) : throw new ConstantEvaluationException("Mod of floats needs fmod=1"),
            _ => a.Type is DataType.Bool or DataType.UInt32 ? throw new ConstantEvaluationException($"Mod of {DataTypes.ShortName(a.Type)}")
                : IntBinary(a, b, od, fmod ? Broadcast<long, IFMod> : Broadcast<long, IMod>),
        };
    }

    private static ConstTensor Bitwise(string op, ConstTensor a, ConstTensor b)
    {
        if (a.Type != b.Type || LaneOf(a.Type) != Lane.Int || a.Type == DataType.Bool)
            throw new ConstantEvaluationException($"{op} of {DataTypes.ShortName(a.Type)} and {DataTypes.ShortName(b.Type)}");
        if (a.Type == DataType.UInt8 && b.ElementCount == 1)
        {
            // Bytes against one byte (unpacking packed weights): no detour through 64-bit lanes.
            byte m = b.Bytes[0];
            var r = ConstTensor.Allocate(DataType.UInt8, a.Dims);
            var src = a.Bytes; var dst = r.Writable;
            switch (op)
            {
                case "BitwiseAnd": for (int i = 0; i < dst.Length; i++) dst[i] = (byte)(src[i] & m); break;
                case "BitwiseOr": for (int i = 0; i < dst.Length; i++) dst[i] = (byte)(src[i] | m); break;
                default: for (int i = 0; i < dst.Length; i++) dst[i] = (byte)(src[i] ^ m); break;
            }
            return b.Dims.Length <= a.Dims.Length ? r : r.Reshaped(BroadcastDims(a.Dims, b.Dims));
        }
        var od = BroadcastDims(a.Dims, b.Dims);
        return IntBinary(a, b, od, op switch { "BitwiseAnd" => Broadcast<long, IAnd>, "BitwiseOr" => Broadcast<long, IOr>, _ => Broadcast<long, IXor> });
    }

    private static ConstTensor BitwiseNot(ConstTensor a)
    {
        if (LaneOf(a.Type) != Lane.Int || a.Type == DataType.Bool) throw new ConstantEvaluationException($"BitwiseNot of {DataTypes.ShortName(a.Type)}");
        var l = ToIntLane(a);
        var r = ConstTensor.Allocate(DataType.Int64, a.Dims);
        var s = l.As<long>(); var d = r.AsWritable<long>();
        for (int i = 0; i < d.Length; i++) d[i] = ~s[i];
        l.Dispose();
        return FromIntLane(r, a.Type);
    }

    private static ConstTensor Shift(ConstTensor a, ConstTensor b, string direction)
    {
        if (a.Type != b.Type || a.Type is not (DataType.UInt8 or DataType.UInt16 or DataType.UInt32))
            throw new ConstantEvaluationException($"BitShift of {DataTypes.ShortName(a.Type)}");
        bool left = direction == "LEFT";
        if (!left && direction != "RIGHT") throw new ConstantEvaluationException($"BitShift direction '{direction}'");
        int width = DataTypes.BitWidth(a.Type);
        // A shift by the operand's width or more is left to the runtime: C++ leaves some of those
        // undefined, and exporters never write them.
        int limit = width;
        using var lb = ToIntLane(b);
        foreach (var s in lb.As<long>())
            if (s < 0 || s >= limit) throw new ConstantEvaluationException($"a shift by {s} bits of {DataTypes.ShortName(a.Type)} has no defined result", undefined: true);
        var od = BroadcastDims(a.Dims, b.Dims);
        if (a.Type == DataType.UInt8 && b.ElementCount == 1 && od.AsSpan().SequenceEqual(a.Dims))
        {
            int sh = b.Bytes[0];
            var r = ConstTensor.Allocate(DataType.UInt8, od);
            var src = a.Bytes; var dst = r.Writable;
            if (left) for (int i = 0; i < dst.Length; i++) dst[i] = (byte)(src[i] << sh);
            else for (int i = 0; i < dst.Length; i++) dst[i] = (byte)(src[i] >> sh);
            return r;
        }
        return IntBinary(a, b, od, left ? Broadcast<long, IShl> : Broadcast<long, IShr>);
    }

    private struct IShl : IBinary<long> { public static long Apply(long a, long b) => (long)((ulong)a << (int)b); }
    private struct IShr : IBinary<long> { public static long Apply(long a, long b) => (long)((ulong)a >> (int)b); }

    private static ConstTensor MinMax(bool max, ConstTensor[] inputs)
    {
        if (inputs.Length == 0) throw new ConstantEvaluationException("no inputs");
        var type = inputs[0].Type;
        if (inputs.Any(t => t.Type != type)) throw new ConstantEvaluationException("inputs of different types");
        foreach (var t in inputs) ThrowOnNaN(t);
        var acc = inputs[0].Reshaped(inputs[0].Dims);
        for (int i = 1; i < inputs.Length; i++)
        {
            var b = inputs[i];
            var od = BroadcastDims(acc.Dims, b.Dims);
            ConstTensor next = LaneOf(type) switch
            {
                Lane.Float => FloatBinary(acc, b, od, max ? Broadcast<float, FMax> : Broadcast<float, FMin>),
                Lane.Double => DoubleBinary(acc, b, od, max ? Broadcast<double, DMax> : Broadcast<double, DMin>),
                _ => IntBinary(acc, b, od, max ? Broadcast<long, IMax> : Broadcast<long, IMin>),
            };
            acc.Dispose();
            acc = next;
        }
        return acc;
    }

    /// <summary>Min, max and clip disagree between implementations on NaN: leave such values to the runtime.</summary>
    private static void ThrowOnNaN(ConstTensor t)
    {
        switch (t.Type)
        {
            case DataType.Float: foreach (var v in t.As<float>()) if (float.IsNaN(v)) throw Nan(); break;
            case DataType.Double: foreach (var v in t.As<double>()) if (double.IsNaN(v)) throw Nan(); break;
            case DataType.Float16: foreach (var v in t.As<Half>()) if (Half.IsNaN(v)) throw Nan(); break;
            case DataType.BFloat16: foreach (var v in t.As<ushort>()) if ((v & 0x7FFF) > 0x7F80) throw Nan(); break;
        }
        static ConstantEvaluationException Nan() => new("a NaN reaches min/max/clip, whose result on NaN is the runtime's choice");
    }

    private static ConstTensor Clip(Node n, ConstTensor?[] x, bool own = false)
    {
        var input = x[0] ?? throw new ConstantEvaluationException("input 0 is missing");
        ThrowOnNaN(input);
        var lane = LaneOf(input.Type);
        // Opset 6 takes the bounds as attributes, opset 11 and later as optional inputs.
        ConstTensor? lo = x.Length > 1 ? x[1] : null, hi = x.Length > 2 ? x[2] : null;
        if (n.GetAttribute("min") is { } minA) lo = ConstTensor.FromArray(DataType.Float, [], new[] { minA.AsFloat });
        if (n.GetAttribute("max") is { } maxA) hi = ConstTensor.FromArray(DataType.Float, [], new[] { maxA.AsFloat });
        foreach (var bound in new[] { lo, hi })
        {
            if (bound is null) continue;
            if (bound.ElementCount != 1) throw new ConstantEvaluationException("a bound is not a scalar");
            ThrowOnNaN(bound);
        }
        switch (lane)
        {
            case Lane.Float:
            {
                float l = float.NegativeInfinity, h = float.PositiveInfinity;
                if (lo is not null) { using var f = ToFloatLane(lo); l = f.As<float>()[0]; }
                if (hi is not null) { using var f = ToFloatLane(hi); h = f.As<float>()[0]; }
                var r = input.Type == DataType.Float ? Output(input.Dims, input, own) : ConstTensor.Allocate(DataType.Float, input.Dims);
                using var v = ToFloatLane(input);
                var s = v.As<float>(); var d = r.InPlaceWritable<float>();
                int start = 0;
                if (l != 0 && h != 0)
                {
                    // No zero bound, so no -0/+0 tie: whole vectors (NaN was ruled out above).
                    var vlo = new Vector<float>(l); var vhi = new Vector<float>(h);
                    for (int w = Vector<float>.Count; start + w <= d.Length; start += w)
                        Vector.Min(Vector.Max(new Vector<float>(s[start..]), vlo), vhi).CopyTo(d[start..]);
                }
                for (int i = start; i < d.Length; i++)
                {
                    // (In place, d and s are the same memory; s[i] is read before d[i] is written.)
                    if (SignedZeros(s[i], l) || SignedZeros(s[i], h)) { r.Dispose(); throw ZeroTie(); }
                    d[i] = Math.Min(Math.Max(s[i], l), h);
                }
                return FromFloatLane(r, input.Type);
            }
            case Lane.Double:
            {
                static double Bound(ConstTensor? b, double none) => b is null ? none : b.Type == DataType.Double ? b.As<double>()[0] : b.Type == DataType.Float ? b.As<float>()[0]
                    : throw new ConstantEvaluationException($"a {DataTypes.ShortName(b.Type)} bound for float64 values");
                double l = Bound(lo, double.NegativeInfinity), h = Bound(hi, double.PositiveInfinity);
                var r = ConstTensor.Allocate(DataType.Double, input.Dims);
                var s = input.As<double>(); var d = r.AsWritable<double>();
                for (int i = 0; i < d.Length; i++)
                {
                    if (s[i] == 0 && (l == 0 && double.IsNegative(l) != double.IsNegative(s[i]) || h == 0 && double.IsNegative(h) != double.IsNegative(s[i]))) { r.Dispose(); throw ZeroTie(); }
                    d[i] = Math.Min(Math.Max(s[i], l), h);
                }
                return r;
            }
            default:
            {
                long l = long.MinValue, h = long.MaxValue;
                if (lo is not null) { using var t = ToIntLane(lo); l = t.As<long>()[0]; }
                if (hi is not null) { using var t = ToIntLane(hi); h = t.As<long>()[0]; }
                using var v = ToIntLane(input);
                var r = ConstTensor.Allocate(DataType.Int64, input.Dims);
                var s = v.As<long>(); var d = r.AsWritable<long>();
                for (int i = 0; i < d.Length; i++) d[i] = Math.Min(Math.Max(s[i], l), h);
                return FromIntLane(r, input.Type);
            }
        }
    }

    /// <summary>An element-wise float operator by whole vectors, then the tail; both forms round alike (exact operations).</summary>
    private static void UnaryVector(ReadOnlySpan<float> s, Span<float> d, Func<Vector<float>, Vector<float>> vector, Func<float, float> scalar)
    {
        int w = Vector<float>.Count, i = 0;
        for (; i + w <= d.Length; i += w) vector(new Vector<float>(s[i..])).CopyTo(d[i..]);
        for (; i < d.Length; i++) d[i] = scalar(s[i]);
    }

    private static ConstTensor UnaryOp(string op, ConstTensor x, bool own = false)
    {
        switch (LaneOf(x.Type))
        {
            case Lane.Float:
            {
                var r = x.Type == DataType.Float ? Output(x.Dims, x, own) : ConstTensor.Allocate(DataType.Float, x.Dims);
                using var f = ToFloatLane(x);
                var s = f.As<float>(); var d = r.InPlaceWritable<float>();
                switch (op)
                {
                    case "Abs": UnaryVector(s, d, static v => Vector.Abs(v), Math.Abs); break;
                    case "Neg": UnaryVector(s, d, static v => -v, static x => -x); break;
                    case "Floor": UnaryVector(s, d, static v => Vector.Floor(v), MathF.Floor); break;
                    case "Ceil": UnaryVector(s, d, static v => Vector.Ceiling(v), MathF.Ceiling); break;
                    case "Round": UnaryVector(s, d, static v => Vector.Round(v), static x => MathF.Round(x, MidpointRounding.ToEven)); break;
                    case "Reciprocal": for (int i = 0; i < d.Length; i++) d[i] = 1f / s[i]; break;
                    case "Sqrt": for (int i = 0; i < d.Length; i++) d[i] = MathF.Sqrt(s[i]); break;
                    case "Relu": ThrowOnNaN(f); for (int i = 0; i < d.Length; i++) d[i] = SignedZeros(s[i], 0f) ? throw ZeroTie() : Math.Max(s[i], 0f); break;
                    case "Sign":
                        ThrowOnNaN(f);
                        for (int i = 0; i < d.Length; i++) d[i] = s[i] > 0 ? 1f : s[i] < 0 ? -1f : 0f;
                        break;
                }
                return FromFloatLane(r, x.Type);
            }
            case Lane.Double:
            {
                var r = ConstTensor.Allocate(DataType.Double, x.Dims);
                var s = x.As<double>(); var d = r.AsWritable<double>();
                switch (op)
                {
                    case "Abs": for (int i = 0; i < d.Length; i++) d[i] = Math.Abs(s[i]); break;
                    case "Neg": for (int i = 0; i < d.Length; i++) d[i] = -s[i]; break;
                    case "Floor": for (int i = 0; i < d.Length; i++) d[i] = Math.Floor(s[i]); break;
                    case "Ceil": for (int i = 0; i < d.Length; i++) d[i] = Math.Ceiling(s[i]); break;
                    case "Round": for (int i = 0; i < d.Length; i++) d[i] = Math.Round(s[i], MidpointRounding.ToEven); break;
                    case "Reciprocal": for (int i = 0; i < d.Length; i++) d[i] = 1.0 / s[i]; break;
                    case "Sqrt": for (int i = 0; i < d.Length; i++) d[i] = Math.Sqrt(s[i]); break;
                    case "Relu": ThrowOnNaN(x); for (int i = 0; i < d.Length; i++) d[i] = s[i] == 0 && double.IsNegative(s[i]) ? throw ZeroTie() : Math.Max(s[i], 0.0); break;
                    case "Sign": ThrowOnNaN(x); for (int i = 0; i < d.Length; i++) d[i] = s[i] > 0 ? 1 : s[i] < 0 ? -1 : 0; break;
                }
                return r;
            }
            default:
            {
                if (op is not ("Abs" or "Neg" or "Sign" or "Relu") || x.Type is DataType.Bool or DataType.UInt32)
                    throw new ConstantEvaluationException($"{op} of {DataTypes.ShortName(x.Type)}");
                using var l = ToIntLane(x);
                var r = ConstTensor.Allocate(DataType.Int64, x.Dims);
                var s = l.As<long>(); var d = r.AsWritable<long>();
                for (int i = 0; i < d.Length; i++)
                {
                    long v = s[i];
                    if (v == long.MinValue && op is "Abs" or "Neg") throw new ConstantEvaluationException($"{op} of the smallest int64");
                    d[i] = op switch { "Abs" => Math.Abs(v), "Neg" => -v, "Relu" => Math.Max(v, 0), _ => Math.Sign(v) };
                }
                return FromIntLane(r, x.Type);
            }
        }
    }
}
