using System.Runtime.Intrinsics;
using Ternion.IR;

namespace Ternion.Passes.Constants;

internal static partial class NativeOps
{
    /// <summary>
    /// ReduceSum and ReduceMean of float32 over trailing axes (all axes included), in ONNX Runtime's
    /// order of additions: each output is the sum of one contiguous row of the input, and ORT's CPU
    /// kernel sums a row with Eigen's vectorised reduction at SSE width — two 4-lane accumulators over
    /// pairs of packets from the first 16-byte boundary, one more packet, lanes added (0+2) + (1+3),
    /// then the scalars before the boundary and after the last packet — and divides a mean by the
    /// count. ORT's tensors start 64-byte aligned, so a row's boundary follows from its offset. The
    /// bit-identity with ORT is checked by tests (ConstantEvaluatorTests); anything else (leading
    /// axes, other types) is left to ORT.
    /// </summary>
    private static ConstTensor ReduceSumOrMean(Node n, ConstTensor?[] x, bool mean)
    {
        var input = x[0] ?? throw new ConstantEvaluationException("input 0 is missing");
        // A stored tensor sits wherever the runtime put it, and its alignment steers the order of
        // additions; a computed one (Abs of the weight, say) starts on ORT's 64-byte boundary.
        if (n.Input(0) is { IsInitializer: true }) throw new ConstantEvaluationException($"{n.OpType} of a stored tensor: its alignment in the runtime decides the order of additions");
        if (input.Type != DataType.Float) throw new ConstantEvaluationException($"{n.OpType} of {DataTypes.ShortName(input.Type)}: ONNX Runtime's order of additions is reproduced for float32 only");
        var (rows, rowLength, outDims) = TrailingReduction(n, x, input);
        var result = ConstTensor.Allocate(DataType.Float, outDims);
        var src = input.As<float>();
        var dst = result.AsWritable<float>();
        for (long r = 0; r < rows; r++)
        {
            long offset = r * rowLength;
            float s = rowLength == 0 ? 0f : EigenSum(src.Slice((int)offset, (int)rowLength), (int)((4 - offset % 4) % 4));
            dst[(int)r] = mean ? s / rowLength : s;
        }
        return result;
    }

    /// <summary>ReduceMax / ReduceMin: any order gives the same value, but NaN and -0 against +0 are the runtime's choice.</summary>
    private static ConstTensor ReduceExtreme(Node n, ConstTensor?[] x, bool max)
    {
        var input = x[0] ?? throw new ConstantEvaluationException("input 0 is missing");
        if (input.Type != DataType.Float) throw new ConstantEvaluationException($"{n.OpType} of {DataTypes.ShortName(input.Type)}");
        ThrowOnNaN(input);
        var (rows, rowLength, outDims) = TrailingReduction(n, x, input);
        if (rowLength == 0) throw new ConstantEvaluationException($"{n.OpType} over an empty axis");
        var result = ConstTensor.Allocate(DataType.Float, outDims);
        var src = input.As<float>();
        var dst = result.AsWritable<float>();
        for (long r = 0; r < rows; r++)
        {
            var row = src.Slice((int)(r * rowLength), (int)rowLength);
            float best = row[0];
            foreach (var v in row)
            {
                if (SignedZeros(v, best)) throw ZeroTie();
                if (max ? v > best : v < best) best = v;
            }
            dst[(int)r] = best;
        }
        return result;
    }

    /// <summary>Rows x row length of a reduction over the trailing axes, and the output dims (keepdims honoured).</summary>
    private static (long Rows, long RowLength, long[] OutDims) TrailingReduction(Node n, ConstTensor?[] x, ConstTensor input)
    {
        int rank = input.Dims.Length;
        long[]? axes = n.GetInts("axes")?.ToArray() ?? (x.Length > 1 && x[1] is { } a ? Int64Values(a, "axes") : null);
        bool keep = n.GetInt("keepdims", 1) != 0;
        if (axes is { Length: 0 } || axes is null)
        {
            if (axes is not null && n.GetInt("noop_with_empty_axes", 0) != 0) throw new ConstantEvaluationException("an empty axes list with noop_with_empty_axes");
            axes = Enumerable.Range(0, rank).Select(i => (long)i).ToArray();
        }
        var norm = axes.Select(a => NormalizeAxis(a, rank, "axis")).Distinct().Order().ToArray();
        // Trailing and contiguous: the last norm.Length axes.
        for (int i = 0; i < norm.Length; i++)
            if (norm[i] != rank - norm.Length + i)
                throw new ConstantEvaluationException($"a reduction over axes [{string.Join(",", norm)}] of rank {rank}: only trailing axes follow ONNX Runtime's order of additions here");
        long rowLength = 1;
        foreach (var ax in norm) rowLength *= input.Dims[ax];
        long rows = input.ElementCount / Math.Max(1, rowLength);
        if (rowLength == 0) rows = Tensor.ElementCountOf(input.Dims.Take(rank - norm.Length).ToArray());
        var outDims = keep
            ? input.Dims.Select((d, i) => norm.Contains(i) ? 1 : d).ToArray()
            : input.Dims.Where((_, i) => !norm.Contains(i)).ToArray();
        return (rows, rowLength, outDims);
    }

    /// <summary>
    /// Eigen's vectorised sum at SSE width (4 floats): <paramref name="head"/> scalars before the first
    /// aligned packet are added at the end, like the tail. Lane-wise Vector128 additions round exactly
    /// as Eigen's _mm_add_ps does.
    /// </summary>
    internal static float EigenSum(ReadOnlySpan<float> x, int head)
    {
        const int P = 4;
        int size = x.Length;
        if (size < head + P)
        {
            // Not one aligned packet: Eigen adds the scalars in order.
            float r = x[0];
            for (int i = 1; i < size; i++) r += x[i];
            return r;
        }
        var body = x[head..];
        int alignedSize = body.Length / P * P, alignedSize2 = body.Length / (2 * P) * (2 * P);
        var p0 = Vector128.Create(body[..P]);
        if (alignedSize > P)
        {
            var p1 = Vector128.Create(body.Slice(P, P));
            for (int i = 2 * P; i < alignedSize2; i += 2 * P)
            {
                p0 += Vector128.Create(body.Slice(i, P));
                p1 += Vector128.Create(body.Slice(i + P, P));
            }
            p0 += p1;
            if (alignedSize > alignedSize2) p0 += Vector128.Create(body.Slice(alignedSize2, P));
        }
        float sum = (p0[0] + p0[2]) + (p0[1] + p0[3]);
        for (int i = 0; i < head; i++) sum += x[i];
        for (int i = alignedSize; i < body.Length; i++) sum += body[i];
        return sum;
    }
}
