using Ternion.Backends.Kernels.Ops;
using Ternion.IR;
using Ternion.IR.Ternary;

namespace Ternion.Backends.OrtOps;

/// <summary>
/// com.ternion::TernaryMatMul and TernaryMatMulAbsmaxInt8 on ONNX Runtime: inputs X, packed,
/// scale and an optional bias. Every shape and type is checked against the attributes before a
/// byte is read; packed bytes are checked for reserved values once at session creation when they
/// are a constant initializer (the usual case), otherwise on every run.
/// </summary>
internal sealed unsafe class TernaryMatMulOrtKernel : OrtOpKernel
{
    private readonly TernaryMatMulKernel _kernel;
    private readonly string _xName, _packedName, _scaleName, _biasName;
    /// <summary>The constant packed bytes validated at creation; run-time inputs elsewhere are checked per run.</summary>
    private readonly nint _validated;

    public TernaryMatMulOrtKernel(KernelCreation c, bool absmaxInt8) : base(c, absmaxInt8 ? TernaryOps.MatMulAbsmaxInt8 : TernaryOps.MatMul)
    {
        var api = c.Api;
        long k = api.AttributeInt64(c.Info, TernaryOps.AttrK) ?? throw new TernionException($"has no '{TernaryOps.AttrK}' attribute");
        long n = api.AttributeInt64(c.Info, TernaryOps.AttrN) ?? throw new TernionException($"has no '{TernaryOps.AttrN}' attribute");
        long blockSize = api.AttributeInt64(c.Info, TernaryOps.AttrBlockSize) ?? TernaryLayout.DefaultBlockSize;
        AbsmaxInt8Quantization? quantization = null;
        if (absmaxInt8)
            quantization = new AbsmaxInt8Quantization(
                api.AttributeFloat(c.Info, TernaryOps.AttrQuantMax) ?? 127f,
                api.AttributeFloat(c.Info, TernaryOps.AttrQuantEps) ?? 1e-5f,
                api.AttributeInt64(c.Info, TernaryOps.AttrClipMin) ?? -128,
                api.AttributeInt64(c.Info, TernaryOps.AttrClipMax) ?? 127);
        _kernel = new TernaryMatMulKernel(k, n, blockSize, quantization);
        int inputs = api.InputCountAtCreation(c.Info);
        _xName = api.InputName(c.Info, 0);
        _packedName = api.InputName(c.Info, 1);
        _scaleName = api.InputName(c.Info, 2);
        _biasName = inputs > 3 ? api.InputName(c.Info, 3) : "";
        if (OrtTensor.ReadConstant(api, c.Info, 1) is { } packed)
        {
            CheckPacked(packed);
            _kernel.CheckBytes(new ReadOnlySpan<byte>(packed.Data, (int)_kernel.Layout.PackedBytes), _packedName);
            _validated = (nint)packed.Data;
        }
    }

    private void CheckPacked(OrtTensor packed)
    {
        if (packed.Type != TensorElementType.UInt8) throw new TernionException($"packed input '{_packedName}' is {packed.Type}, not uint8");
        if (packed.Dims.Length != 2 || packed.Dims[0] != _kernel.N || packed.Dims[1] != _kernel.Layout.RowBytes)
            throw new TernionException($"packed input '{_packedName}' is {packed.ShapeText} but K = {_kernel.K}, N = {_kernel.N} with block {_kernel.Layout.BlockSize} needs [{_kernel.N},{_kernel.Layout.RowBytes}]");
    }

    public override void Compute(nint context)
    {
        var x = OrtTensor.Required(Api, context, 0, "X");
        var packed = OrtTensor.Required(Api, context, 1, "packed");
        var scale = OrtTensor.Required(Api, context, 2, "scale");
        var bias = OrtTensor.Read(Api, context, 3);
        _kernel.CheckInputs(x.Dims, x.Type, _xName, packed.Dims, packed.Type, _packedName, scale.Dims, scale.Type, _scaleName,
            bias?.Dims, bias?.Type ?? x.Type, _biasName);
        if ((nint)packed.Data != _validated)
            _kernel.CheckBytes(new ReadOnlySpan<byte>(packed.Data, (int)_kernel.Layout.PackedBytes), _packedName);
        nint output = Api.Output(context, 0, _kernel.OutputDims(x.Dims));
        long tokens = x.ElementCount / _kernel.K;
        if (tokens == 0) return;
        var runner = new OrtParallelRunner(Api, context);
        int scaleCount = (int)scale.ElementCount;
        byte* w = (byte*)packed.Data;
        if (x.Type == TensorElementType.Float)
            _kernel.Run((float*)x.Data, tokens, w, (float*)scale.Data, scaleCount, bias is { } b ? (float*)b.Data : null, (float*)Api.TensorData(output), runner);
        else
            _kernel.Run((Half*)x.Data, tokens, w, (Half*)scale.Data, scaleCount, bias is { } b ? (Half*)b.Data : null, (Half*)Api.TensorData(output), runner);
    }
}
