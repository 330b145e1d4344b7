namespace Ternion.IR.Ternary;

/// <summary>
/// Where the trits of a logical tensor go in a TTF1 packed tensor (spec section 3): the weight of
/// shape <see cref="Shape"/> is packed along <see cref="Axis"/> (K = Shape[Axis]); the other dims,
/// in row-major order, form the M channels; the packed tensor is uint8 [M, RowBytes].
/// </summary>
/// <remarks>
/// Construction validates (and copies the shape), throwing <see cref="TernionException"/>, since a
/// layout usually comes from a model's attributes. <c>with</c> and <c>default</c> bypass the
/// constructor, so the codec validates again on every call.
/// </remarks>
public readonly record struct TernaryLayout(long[] Shape, int Axis, int BlockSize = TernaryLayout.DefaultBlockSize)
{
    /// <summary>320 trits = 64 bytes, one cache line.</summary>
    public const int DefaultBlockSize = 320;
    public const int LargeBlockSize = 640;

    public long[] Shape { get; init; } = CheckShape(Shape);
    public int Axis { get; init; } = CheckAxis(Shape, Axis);
    public int BlockSize { get; init; } = CheckSizes(Shape, Axis, CheckBlockSize(BlockSize));

    /// <summary>A plain [M, K] matrix packed along its rows (Gemm transB=1 style): the order trits are packed in.</summary>
    public static TernaryLayout Matrix(long m, long k, int blockSize = DefaultBlockSize) => new([m, k], 1, blockSize);

    /// <summary>The same packed bytes viewed as an [M, K] matrix packed along its last axis.</summary>
    public TernaryLayout AsMatrix() => Matrix(M, K, BlockSize);

    public int Rank => Shape.Length;
    /// <summary>The reduction length: trits per channel.</summary>
    public long K => Shape[Axis];
    /// <summary>Channels: product of the dims other than <see cref="Axis"/>.</summary>
    public long M => Outer * Inner;
    /// <summary>Product of the dims before <see cref="Axis"/>.</summary>
    public long Outer => Product(Shape, 0, Axis);
    /// <summary>Product of the dims after <see cref="Axis"/>: the stride between consecutive k of one channel (1 when rows are contiguous).</summary>
    public long Inner => Product(Shape, Axis + 1, Shape.Length);
    public long ElementCount => Product(Shape, 0, Shape.Length);
    public long BlocksPerRow => (K + BlockSize - 1) / BlockSize;
    public long RowBytes => BlocksPerRow * (BlockSize / TernaryLut.TritsPerByte);
    public long PackedBytes => M * RowBytes;
    /// <summary>Bytes of a row that hold at least one real trit: ceil(K / 5).</summary>
    public long DataBytesPerRow => (K + TernaryLut.TritsPerByte - 1) / TernaryLut.TritsPerByte;

    /// <summary>Re-checks everything, for layouts made by <c>with</c> or <c>default</c>.</summary>
    public void Validate()
    {
        CheckShape(Shape);
        CheckAxis(Shape, Axis);
        CheckSizes(Shape, Axis, CheckBlockSize(BlockSize));
    }

    public bool Equals(TernaryLayout other) =>
        Axis == other.Axis && BlockSize == other.BlockSize &&
        (ReferenceEquals(Shape, other.Shape) || (Shape is not null && other.Shape is not null && Shape.AsSpan().SequenceEqual(other.Shape)));

    public override int GetHashCode()
    {
        var h = new HashCode();
        h.Add(Axis);
        h.Add(BlockSize);
        if (Shape is not null) foreach (var d in Shape) h.Add(d);
        return h.ToHashCode();
    }

    public override string ToString() =>
        $"[{(Shape is null ? "" : string.Join(",", Shape))}] axis {Axis} block {BlockSize}";

    private static long Product(long[] dims, int from, int to)
    {
        long p = 1;
        for (int i = from; i < to; i++) p *= dims[i];
        return p;
    }

    private static long[] CheckShape(long[] shape)
    {
        if (shape is null || shape.Length == 0)
            throw new TernionException("ternary layout: the shape must have at least one dimension");
        long elements = 1;
        foreach (var d in shape)
        {
            if (d < 0) throw new TernionException($"ternary layout: negative dimension in shape [{string.Join(",", shape)}]");
            elements = d == 0 || elements == 0 ? 0 : (elements > long.MaxValue / d ? throw Overflow(shape) : elements * d);
        }
        return (long[])shape.Clone();
    }

    private static TernionException Overflow(long[] shape) =>
        new($"ternary layout: shape [{string.Join(",", shape)}] is too large");

    private static int CheckAxis(long[] shape, int axis)
    {
        if (shape is null || axis < 0 || axis >= shape.Length)
            throw new TernionException($"ternary layout: axis {axis} is outside the {shape?.Length ?? 0} dimensions of the shape");
        return axis;
    }

    /// <summary>Padding can make the packed tensor larger than the logical one; both must fit a long.</summary>
    private static int CheckSizes(long[] shape, int axis, int blockSize)
    {
        try
        {
            long k = shape[axis], m = 1;
            for (int i = 0; i < shape.Length; i++) if (i != axis) m = checked(m * shape[i]);
            long rowBytes = checked((k / blockSize + 1) * (blockSize / TernaryLut.TritsPerByte));
            _ = checked(m * rowBytes);
        }
        catch (OverflowException) { throw Overflow(shape); }
        return blockSize;
    }

    private static int CheckBlockSize(int blockSize) =>
        blockSize is DefaultBlockSize or LargeBlockSize
            ? blockSize
            : throw new TernionException($"ternary layout: block_size {blockSize} is not 320 or 640");
}
