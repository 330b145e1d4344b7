using Ternion.Backends.Kernels.Ops;
using Ternion.IR;

namespace Ternion.Backends.OrtOps;

/// <summary>A tensor input as a kernel reads it: element type, dimensions, data pointer.</summary>
internal readonly unsafe struct OrtTensor(TensorElementType type, long[] dims, void* data)
{
    public TensorElementType Type { get; } = type;
    public long[] Dims { get; } = dims;
    public void* Data { get; } = data;

    public long ElementCount
    {
        get
        {
            long n = 1;
            foreach (var d in Dims) n = d < 0 || n < 0 ? -1 : checked(n * d);
            return n;
        }
    }

    public string ShapeText => "[" + string.Join(",", Dims) + "]";

    /// <summary>Input <paramref name="index"/>, or null when the node omits it (an optional input).</summary>
    public static OrtTensor? Read(OrtApi api, nint context, int index)
    {
        if (index >= api.InputCount(context)) return null;
        nint value = api.Input(context, index);
        if (value == 0) return null;
        var (type, dims) = api.TypeAndShape(value);
        return new OrtTensor((TensorElementType)type, dims, api.TensorData(value));
    }

    /// <summary>The constant initializer behind input <paramref name="index"/> at kernel creation, or null.</summary>
    public static OrtTensor? ReadConstant(OrtApi api, nint info, int index)
    {
        nint value = api.ConstantInput(info, index);
        if (value == 0) return null;
        var (type, dims) = api.TypeAndShape(value);
        return new OrtTensor((TensorElementType)type, dims, api.TensorData(value));
    }

    public static OrtTensor Required(OrtApi api, nint context, int index, string what) =>
        Read(api, context, index) ?? throw new TernionException($"input {index} ({what}) is missing");
}
