using Ternion.IR;

namespace Ternion.Passes.Constants;

internal static partial class NativeOps
{
    private static long[]? Axes(Node n, ConstTensor?[] x, int inputIndex)
    {
        if (n.GetInts("axes") is { } attr) return attr.ToArray();
        return x.Length > inputIndex && x[inputIndex] is { } t ? Int64Values(t, "axes") : null;
    }

    private static ConstTensor Reshape(ConstTensor x, ConstTensor shape, bool allowZero)
    {
        var want = Int64Values(shape, "shape");
        var dims = new long[want.Length];
        int infer = -1;
        long known = 1;
        for (int i = 0; i < want.Length; i++)
        {
            long d = want[i];
            if (d == 0 && !allowZero)
            {
                if (i >= x.Dims.Length) throw new ConstantEvaluationException($"shape {DimsText(want)} copies dim {i} of {DimsText(x.Dims)}");
                d = x.Dims[i];
            }
            if (d == -1)
            {
                if (infer >= 0) throw new ConstantEvaluationException($"shape {DimsText(want)} has two -1");
                infer = i;
                continue;
            }
            if (d < 0) throw new ConstantEvaluationException($"shape {DimsText(want)} has a negative dim");
            dims[i] = d;
            known *= d;
        }
        long n = x.ElementCount;
        if (infer >= 0)
        {
            if (known == 0 || n % known != 0) throw new ConstantEvaluationException($"cannot reshape {DimsText(x.Dims)} to {DimsText(want)}");
            dims[infer] = n / known;
        }
        if (Tensor.ElementCountOf(dims) != n) throw new ConstantEvaluationException($"cannot reshape {DimsText(x.Dims)} to {DimsText(want)}");
        return x.Reshaped(dims);
    }

    private static ConstTensor Flatten(ConstTensor x, long axis)
    {
        int r = x.Dims.Length;
        long a = axis < 0 ? axis + r : axis;
        if (a < 0 || a > r) throw new ConstantEvaluationException($"axis {axis} is outside rank {r}");
        long outer = 1, inner = 1;
        for (int i = 0; i < r; i++) if (i < a) outer *= x.Dims[i]; else inner *= x.Dims[i];
        return x.Reshaped([outer, inner]);
    }

    private static ConstTensor Squeeze(ConstTensor x, long[]? axes)
    {
        int r = x.Dims.Length;
        var drop = axes is null
            ? Enumerable.Range(0, r).Where(i => x.Dims[i] == 1).ToHashSet()
            : axes.Select(a => NormalizeAxis(a, r, "axis")).ToHashSet();
        foreach (var a in drop) if (x.Dims[a] != 1) throw new ConstantEvaluationException($"cannot squeeze axis {a} of {DimsText(x.Dims)}");
        return x.Reshaped(x.Dims.Where((_, i) => !drop.Contains(i)).ToArray());
    }

    private static ConstTensor Unsqueeze(ConstTensor x, long[] axes)
    {
        int r = x.Dims.Length + axes.Length;
        var at = axes.Select(a => NormalizeAxis(a, r, "axis")).ToHashSet();
        if (at.Count != axes.Length) throw new ConstantEvaluationException("repeated axes");
        var dims = new long[r];
        int src = 0;
        for (int i = 0; i < r; i++) dims[i] = at.Contains(i) ? 1 : x.Dims[src++];
        return x.Reshaped(dims);
    }

    private static ConstTensor Transpose(ConstTensor x, long[]? perm)
    {
        int r = x.Dims.Length;
        perm ??= Enumerable.Range(0, r).Reverse().Select(i => (long)i).ToArray();
        if (perm.Length != r || perm.Distinct().Count() != r || perm.Any(p => p < 0 || p >= r))
            throw new ConstantEvaluationException($"perm [{string.Join(",", perm)}] for rank {r}");
        var dims = perm.Select(p => x.Dims[p]).ToArray();
        int size = ElementSize(x.Type);
        var result = ConstTensor.Allocate(x.Type, dims);
        // Input strides in the output's axis order: walking the output in order reads the input strided.
        var inStride = new long[r];
        long s = 1;
        for (int i = r - 1; i >= 0; i--) { inStride[i] = s; s *= x.Dims[i]; }
        var strides = perm.Select(p => inStride[p]).ToArray();
        Gather(x.Bytes, result.Writable, dims, strides, 0, size);
        return result;
    }

    /// <summary>Copies elements of <paramref name="src"/> at base + sum(idx[d] * strides[d]) in the row-major order of <paramref name="dims"/>.</summary>
    private static void Gather(ReadOnlySpan<byte> src, Span<byte> dst, long[] dims, long[] strides, long baseOffset, int size)
    {
        long total = Tensor.ElementCountOf(dims);
        if (total == 0) return;
        int rank = dims.Length;
        if (rank == 0) { src.Slice((int)(baseOffset * size), size).CopyTo(dst); return; }
        long inner = dims[rank - 1], step = strides[rank - 1];
        var idx = new long[rank];
        int pos = 0;
        for (long run = 0; run < total / inner; run++)
        {
            long off = baseOffset;
            for (int d = 0; d < rank - 1; d++) off += idx[d] * strides[d];
            if (step == 1)
            {
                int len = (int)(inner * size);
                src.Slice((int)(off * size), len).CopyTo(dst.Slice(pos, len));
                pos += len;
            }
            else
            {
                switch (size)
                {
                    case 4:
                    {
                        var s4 = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, uint>(src);
                        var d4 = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, uint>(dst.Slice(pos));
                        for (long j = 0; j < inner; j++) d4[(int)j] = s4[(int)(off + j * step)];
                        pos += (int)(inner * 4);
                        break;
                    }
                    case 2:
                    {
                        var s2 = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, ushort>(src);
                        var d2 = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, ushort>(dst.Slice(pos));
                        for (long j = 0; j < inner; j++) d2[(int)j] = s2[(int)(off + j * step)];
                        pos += (int)(inner * 2);
                        break;
                    }
                    default:
                        for (long j = 0; j < inner; j++)
                        {
                            src.Slice((int)((off + j * step) * size), size).CopyTo(dst.Slice(pos, size));
                            pos += size;
                        }
                        break;
                }
            }
            for (int d = rank - 2; d >= 0; d--) { if (++idx[d] < dims[d]) break; idx[d] = 0; }
        }
    }

    private static ConstTensor Concat(ConstTensor[] parts, long axisAttr)
    {
        if (parts.Length == 0) throw new ConstantEvaluationException("no inputs");
        if (axisAttr == long.MinValue) throw new ConstantEvaluationException("Concat has no axis");
        var type = parts[0].Type;
        int r = parts[0].Dims.Length;
        int axis = NormalizeAxis(axisAttr, r, "axis");
        foreach (var p in parts)
        {
            if (p.Type != type || p.Dims.Length != r) throw new ConstantEvaluationException("inputs of different types or ranks");
            for (int d = 0; d < r; d++)
                if (d != axis && p.Dims[d] != parts[0].Dims[d]) throw new ConstantEvaluationException($"{DimsText(p.Dims)} does not fit {DimsText(parts[0].Dims)} along axis {axis}");
        }
        var dims = (long[])parts[0].Dims.Clone();
        dims[axis] = parts.Sum(p => p.Dims[axis]);
        int size = ElementSize(type);
        var result = ConstTensor.Allocate(type, dims);
        long outer = 1;
        for (int d = 0; d < axis; d++) outer *= dims[d];
        long inner = 1;
        for (int d = axis + 1; d < r; d++) inner *= dims[d];
        var dst = result.Writable;
        long rowOut = dims[axis] * inner * size;
        long at = 0;
        foreach (var p in parts)
        {
            long chunk = p.Dims[axis] * inner * size;
            var src = p.Bytes;
            for (long o = 0; o < outer; o++)
                src.Slice((int)(o * chunk), (int)chunk).CopyTo(dst.Slice((int)(o * rowOut + at), (int)chunk));
            at += chunk;
        }
        return result;
    }

    private static ConstTensor Expand(ConstTensor x, ConstTensor shape)
    {
        var dims = BroadcastDims(x.Dims, Int64Values(shape, "shape"));
        int size = ElementSize(x.Type);
        var result = ConstTensor.Allocate(x.Type, dims);
        Gather(x.Bytes, result.Writable, dims, BroadcastStrides(x.Dims, dims), 0, size);
        return result;
    }

    private static ConstTensor Slice(Node n, ConstTensor?[] x)
    {
        var data = x[0] ?? throw new ConstantEvaluationException("input 0 is missing");
        int r = data.Dims.Length;
        long[] starts, ends, axes, steps;
        if (n.GetInts("starts") is { } s)
        {
            starts = s.ToArray();
            ends = n.GetInts("ends")?.ToArray() ?? throw new ConstantEvaluationException("Slice has no ends");
            axes = n.GetInts("axes")?.ToArray() ?? Enumerable.Range(0, starts.Length).Select(i => (long)i).ToArray();
            steps = Enumerable.Repeat(1L, starts.Length).ToArray();
        }
        else
        {
            starts = Int64Values(x.Length > 1 && x[1] is { } a ? a : throw new ConstantEvaluationException("Slice has no starts"), "starts");
            ends = Int64Values(x.Length > 2 && x[2] is { } b ? b : throw new ConstantEvaluationException("Slice has no ends"), "ends");
            axes = x.Length > 3 && x[3] is { } c ? Int64Values(c, "axes") : Enumerable.Range(0, starts.Length).Select(i => (long)i).ToArray();
            steps = x.Length > 4 && x[4] is { } e ? Int64Values(e, "steps") : Enumerable.Repeat(1L, starts.Length).ToArray();
        }
        if (ends.Length != starts.Length || axes.Length != starts.Length || steps.Length != starts.Length)
            throw new ConstantEvaluationException("starts, ends, axes and steps differ in length");
        var begin = new long[r];
        var stepOf = Enumerable.Repeat(1L, r).ToArray();
        var dims = (long[])data.Dims.Clone();
        for (int i = 0; i < starts.Length; i++)
        {
            int ax = NormalizeAxis(axes[i], r, "axis");
            long dim = data.Dims[ax], step = steps[i];
            if (step == 0) throw new ConstantEvaluationException("a step of 0");
            long st = starts[i] < 0 ? starts[i] + dim : starts[i];
            long en = ends[i] < 0 ? ends[i] + dim : ends[i];
            if (step > 0) { st = Math.Clamp(st, 0, dim); en = Math.Clamp(en, 0, dim); }
            else { st = Math.Clamp(st, 0, dim - 1); en = Math.Clamp(en, -1, dim - 1); }
            long count = step > 0 ? Math.Max(0, (en - st + step - 1) / step) : Math.Max(0, (st - en - step - 1) / -step);
            begin[ax] = st; stepOf[ax] = step; dims[ax] = count;
        }
        int size = ElementSize(data.Type);
        var result = ConstTensor.Allocate(data.Type, dims);
        var inStride = new long[r];
        long acc = 1;
        for (int d = r - 1; d >= 0; d--) { inStride[d] = acc; acc *= data.Dims[d]; }
        long baseOff = 0;
        for (int d = 0; d < r; d++) baseOff += begin[d] * inStride[d];
        // A negative step walks backwards: the stride is negative, the base is the first element taken.
        Gather(data.Bytes, result.Writable, dims, inStride.Select((st, d) => st * stepOf[d]).ToArray(), baseOff, size);
        return result;
    }

    private static ConstTensor Gather(ConstTensor data, ConstTensor indices, long axisAttr)
    {
        int r = data.Dims.Length;
        int axis = NormalizeAxis(axisAttr, r, "axis");
        var idx = Int64Values(indices, "indices");
        long dim = data.Dims[axis];
        var dims = data.Dims.Take(axis).Concat(indices.Dims).Concat(data.Dims.Skip(axis + 1)).ToArray();
        int size = ElementSize(data.Type);
        var result = ConstTensor.Allocate(data.Type, dims);
        long outer = 1, inner = 1;
        for (int d = 0; d < axis; d++) outer *= data.Dims[d];
        for (int d = axis + 1; d < r; d++) inner *= data.Dims[d];
        var src = data.Bytes;
        var dst = result.Writable;
        int chunk = (int)(inner * size);
        int pos = 0;
        for (long o = 0; o < outer; o++)
            foreach (var raw in idx)
            {
                long i = raw < 0 ? raw + dim : raw;
                if (i < 0 || i >= dim) throw new ConstantEvaluationException($"index {raw} is outside dim {dim}");
                src.Slice((int)((o * dim + i) * chunk), chunk).CopyTo(dst.Slice(pos, chunk));
                pos += chunk;
            }
        return result;
    }

    private static ConstTensor ShapeOf(ConstTensor x, long? start, long? end)
    {
        int r = x.Dims.Length;
        long s = start ?? 0, e = end ?? r;
        if (s < 0) s += r;
        if (e < 0) e += r;
        s = Math.Clamp(s, 0, r); e = Math.Clamp(e, 0, r);
        var dims = x.Dims.Skip((int)s).Take((int)Math.Max(0, e - s)).ToArray();
        return ConstTensor.FromArray(DataType.Int64, [dims.Length], dims);
    }

    private static ConstTensor ConstantOfShape(Node n, ConstTensor shape)
    {
        var dims = Int64Values(shape, "shape");
        var value = n.GetAttribute("value")?.AsTensor;
        var type = value?.DataType ?? DataType.Float;
        int size = ElementSize(type);
        var result = ConstTensor.Allocate(type, dims, zeroed: value is null);
        if (value is not null)
        {
            using var v = value.Data.Open();
            if (v.Length != size) throw new ConstantEvaluationException("ConstantOfShape's value is not one element");
            var dst = result.Writable;
            for (int i = 0; i < dst.Length; i += size) v.Span.CopyTo(dst.Slice(i, size));
        }
        return result;
    }

    private static ConstTensor Constant(Node n)
    {
        if (n.GetAttribute("value")?.AsTensor is { } t)
        {
            if (t.Data is ProtoTensorData { HasSegment: true } || t.DataType == DataType.String)
                throw new ConstantEvaluationException("a Constant that cannot be read as bytes");
            var bytes = t.Data.Open();
            return ConstTensor.Borrow(t.DataType, t.Dims, bytes.Memory, bytes);
        }
        if (n.GetAttribute("value_float") is { } f) return ConstTensor.FromArray(DataType.Float, [], new[] { f.AsFloat });
        if (n.GetAttribute("value_floats") is { } fs) return ConstTensor.FromArray(DataType.Float, [fs.AsFloats.Count], fs.AsFloats.ToArray());
        if (n.GetAttribute("value_int") is { } i) return ConstTensor.FromArray(DataType.Int64, [], new[] { i.AsInt });
        if (n.GetAttribute("value_ints") is { } iss) return ConstTensor.FromArray(DataType.Int64, [iss.AsInts.Count], iss.AsInts.ToArray());
        throw new ConstantEvaluationException("a Constant of a kind with no byte form (sparse or string)");
    }
}
