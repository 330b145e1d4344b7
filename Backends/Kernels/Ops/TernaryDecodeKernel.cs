using System.Runtime.InteropServices;
using Ternion.IR;
using Ternion.IR.Ternary;

namespace Ternion.Backends.Kernels.Ops;

/// <summary>
/// The compute of com.ternion::TernaryDecode (spec section 5) for a runtime: the layout its
/// attributes declare, the checks of its inputs against that layout, and a strict decode (a
/// reserved byte is an error naming the input and the byte offset, never a silent zero).
/// Errors are <see cref="TernionException"/>s with one line the caller prefixes with the node.
/// </summary>
public sealed class TernaryDecodeKernel
{
    public TernaryLayout Layout { get; }

    public TernaryDecodeKernel(long[] shape, long axis, long blockSize)
    {
        if (shape.Length == 0) throw new TernionException("attribute 'shape' is empty; the decoded weight needs at least one dimension");
        long a = axis < 0 ? axis + shape.Length : axis;
        if (a < 0 || a >= shape.Length) throw new TernionException($"axis {axis} is outside shape [{string.Join(",", shape)}]");
        if (blockSize is not (TernaryLayout.DefaultBlockSize or TernaryLayout.LargeBlockSize))
            throw new TernionException($"block_size {blockSize} is not 320 or 640");
        Layout = new TernaryLayout(shape, (int)a, (int)blockSize);
        if (Layout.ElementCount > int.MaxValue || Layout.PackedBytes > int.MaxValue)
            throw new TernionException($"shape [{string.Join(",", shape)}] has {Layout.ElementCount:N0} elements; this kernel decodes at most {int.MaxValue:N0}");
    }

    /// <summary>Throws unless the packed input is [M, RowBytes] and the scale is [] or [M] of a supported type.</summary>
    public void CheckInputs(ReadOnlySpan<long> packedDims, string packedName, ReadOnlySpan<long> scaleDims, TensorElementType scaleType, string scaleName)
    {
        if (packedDims.Length != 2 || packedDims[0] != Layout.M || packedDims[1] != Layout.RowBytes)
            throw new TernionException($"packed input '{packedName}' is [{string.Join(",", packedDims.ToArray())}] but shape [{string.Join(",", Layout.Shape)}] along axis {Layout.Axis} with block {Layout.BlockSize} needs [{Layout.M},{Layout.RowBytes}]");
        bool perTensor = scaleDims.Length == 0;
        bool perChannel = scaleDims.Length == 1 && scaleDims[0] == Layout.M;
        if (!perTensor && !perChannel)
            throw new TernionException($"scale '{scaleName}' is [{string.Join(",", scaleDims.ToArray())}]; it must be [] or [{Layout.M}]");
        if (scaleType is not (TensorElementType.Float or TensorElementType.Float16 or TensorElementType.BFloat16 or TensorElementType.Double))
            throw new TernionException($"scale '{scaleName}' is {scaleType}, not float, float16, bfloat16 or double");
    }

    /// <summary>Bytes of the decoded output for an element type.</summary>
    public long OutputBytes(TensorElementType type) => Layout.ElementCount * ElementSize(type);

    /// <summary>Decodes <paramref name="packed"/> with <paramref name="scale"/> (raw bytes of one or M values) into <paramref name="output"/>.</summary>
    public void Decode(ReadOnlySpan<byte> packed, string packedName, TensorElementType type, ReadOnlySpan<byte> scale, Span<byte> output, int maxThreads = 0)
    {
        switch (type)
        {
            case TensorElementType.Float:
                TernaryCodec.Decode(packed, Layout, MemoryMarshal.Cast<byte, float>(scale), MemoryMarshal.Cast<byte, float>(output), packedName, maxThreads);
                break;
            case TensorElementType.Float16:
                TernaryCodec.Decode(packed, Layout, MemoryMarshal.Cast<byte, Half>(scale), MemoryMarshal.Cast<byte, Half>(output), packedName, maxThreads);
                break;
            case TensorElementType.BFloat16:
                TernaryCodec.DecodeBFloat16(packed, Layout, MemoryMarshal.Cast<byte, ushort>(scale), MemoryMarshal.Cast<byte, ushort>(output), packedName, maxThreads);
                break;
            case TensorElementType.Double:
                TernaryCodec.Decode(packed, Layout, MemoryMarshal.Cast<byte, double>(scale), MemoryMarshal.Cast<byte, double>(output), packedName, maxThreads);
                break;
            default:
                throw new TernionException($"cannot decode to {type}");
        }
    }

    public static int ElementSize(TensorElementType type) => type switch
    {
        TensorElementType.Float => 4,
        TensorElementType.Double => 8,
        TensorElementType.Float16 or TensorElementType.BFloat16 => 2,
        TensorElementType.UInt8 or TensorElementType.Int8 => 1,
        _ => throw new TernionException($"element type {type} is not supported"),
    };
}
