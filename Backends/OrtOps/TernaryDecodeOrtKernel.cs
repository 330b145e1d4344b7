using Ternion.Backends.Kernels.Ops;
using Ternion.IR;
using Ternion.IR.Ternary;

namespace Ternion.Backends.OrtOps;

/// <summary>
/// com.ternion::TernaryDecode on ONNX Runtime: checks the inputs against the layout the attributes
/// declare, then decodes strictly. A constant packed input is validated once when the session is
/// created (so a reserved byte fails session creation); any other input on every run.
/// </summary>
internal sealed unsafe class TernaryDecodeOrtKernel : OrtOpKernel
{
    private readonly TernaryDecodeKernel _kernel;
    private readonly string _packedName, _scaleName;

    public TernaryDecodeOrtKernel(KernelCreation c) : base(c, TernaryOps.Decode)
    {
        var shape = c.Api.AttributeInt64Array(c.Info, TernaryOps.AttrShape) ?? throw new TernionException("has no 'shape' attribute");
        _kernel = new TernaryDecodeKernel(shape, c.Api.AttributeInt64(c.Info, TernaryOps.AttrAxis) ?? 0,
            c.Api.AttributeInt64(c.Info, TernaryOps.AttrBlockSize) ?? TernaryLayout.DefaultBlockSize);
        _packedName = c.Api.InputName(c.Info, 0);
        _scaleName = c.Api.InputName(c.Info, 1);
    }

    public override void Compute(nint context)
    {
        var packed = OrtTensor.Required(Api, context, 0, "packed");
        var scale = OrtTensor.Required(Api, context, 1, "scale");
        if (packed.Type != TensorElementType.UInt8) throw new TernionException($"packed input '{_packedName}' is {packed.Type}, not uint8");
        _kernel.CheckInputs(packed.Dims, _packedName, scale.Dims, scale.Type, _scaleName);
        var layout = _kernel.Layout;
        long outBytes = _kernel.OutputBytes(scale.Type);
        nint output = Api.Output(context, 0, layout.Shape);
        if (layout.ElementCount == 0) return;
        var dst = new Span<byte>(Api.TensorData(output), (int)outBytes);
        var src = new ReadOnlySpan<byte>(packed.Data, (int)layout.PackedBytes);
        var s = new ReadOnlySpan<byte>(scale.Data, (int)(scale.ElementCount * TernaryDecodeKernel.ElementSize(scale.Type)));
        _kernel.Decode(src, _packedName, scale.Type, s, dst);
    }
}
