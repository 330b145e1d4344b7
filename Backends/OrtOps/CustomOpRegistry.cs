using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using Ternion.Backends.Kernels.Ops;
using Ternion.IR;

namespace Ternion.Backends.OrtOps;

/// <summary>
/// OrtCustomOp of onnxruntime_c_api.h (1.31.1 and 1.32.0): a version and 25 callbacks, in this order. ORT
/// reads the fields a version has; this struct says version <see cref="OrtApi.Version"/> (17), which
/// covers everything up to GetEndVersion and makes ORT call the V2 callbacks that return a status.
/// The four fields after GetEndVersion (in-place and alias maps, API 18 and later) stay null.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct OrtCustomOpStruct
{
    public uint Version;
    public void* CreateKernel;
    public void* GetName;
    public void* GetExecutionProviderType;
    public void* GetInputType;
    public void* GetInputTypeCount;
    public void* GetOutputType;
    public void* GetOutputTypeCount;
    public void* KernelCompute;
    public void* KernelDestroy;
    public void* GetInputCharacteristic;
    public void* GetOutputCharacteristic;
    public void* GetInputMemoryType;
    public void* GetVariadicInputMinArity;
    public void* GetVariadicInputHomogeneity;
    public void* GetVariadicOutputMinArity;
    public void* GetVariadicOutputHomogeneity;
    public void* CreateKernelV2;
    public void* KernelComputeV2;
    public void* InferOutputShapeFn;
    public void* GetStartVersion;
    public void* GetEndVersion;
    public void* GetMayInplace;
    public void* ReleaseMayInplace;
    public void* GetAliasMap;
    public void* ReleaseAliasMap;
}

/// <summary>An OrtCustomOp as ORT sees it, followed by the index of its <see cref="OpDefinition"/>, so callbacks find their op.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct RegisteredOp
{
    public OrtCustomOpStruct Op;
    public int Definition;
}

/// <summary>OrtCustomOpInputOutputCharacteristic.</summary>
internal enum IoCharacteristic { Required = 0, Optional = 1 }

/// <summary>One (op name, element types) registration. ORT merges registrations of one name into one schema whose inputs take the union of the types.</summary>
internal sealed class OpDefinition(string name, TensorElementType[] inputs, IoCharacteristic[] inputKinds, TensorElementType[] outputs,
    Func<KernelCreation, OrtOpKernel> create)
{
    public string Name { get; } = name;
    public TensorElementType[] Inputs { get; } = inputs;
    public IoCharacteristic[] InputKinds { get; } = inputKinds;
    public TensorElementType[] Outputs { get; } = outputs;
    public Func<KernelCreation, OrtOpKernel> Create { get; } = create;
    /// <summary>The name as a NUL-terminated UTF-8 string in native memory (ORT keeps the pointer).</summary>
    public nint NativeName { get; } = AllocUtf8(name);

    private static unsafe nint AllocUtf8(string s)
    {
        var bytes = Encoding.UTF8.GetBytes(s + "\0");
        var p = (byte*)NativeMemory.Alloc((nuint)bytes.Length);
        bytes.CopyTo(new Span<byte>(p, bytes.Length));
        return (nint)p;
    }
}

/// <summary>What a kernel reads when ORT creates it for a node: the API, the kernel info, the node's name.</summary>
internal readonly record struct KernelCreation(OrtApi Api, nint Info, string NodeName);

/// <summary>A kernel instance for one node of one session; ORT holds it through a GCHandle.</summary>
internal abstract class OrtOpKernel(KernelCreation creation, string opType)
{
    public OrtApi Api { get; } = creation.Api;
    public string NodeName { get; } = creation.NodeName;
    public string OpType { get; } = opType;

    public abstract void Compute(nint context);
}

/// <summary>
/// The com.ternion custom-op domain: its OrtCustomOp structures live in native memory for the
/// life of the process (ORT keeps pointers to them in every session that uses the domain), and
/// every callback is a static [UnmanagedCallersOnly] method that catches all exceptions: an
/// exception must never unwind into ONNX Runtime, so each one becomes an OrtStatus naming the
/// node, or a safe default for callbacks that cannot fail.
/// </summary>
internal static unsafe class CustomOpRegistry
{
    private static readonly object s_lock = new();
    private static OpDefinition[]? s_definitions;
    private static nint s_domain;
    private static OrtApi s_api;

    /// <summary>The domain, created on first use with <paramref name="api"/>; later calls reuse it.</summary>
    public static nint Domain(OrtApi api)
    {
        lock (s_lock)
        {
            if (s_domain != 0) return s_domain;
            s_api = api;
            var definitions = TernionOpDefinitions.All();
            nint domain = api.CreateCustomOpDomain(TernaryOps.Domain);
            for (int i = 0; i < definitions.Length; i++)
            {
                var op = (RegisteredOp*)NativeMemory.AllocZeroed((nuint)sizeof(RegisteredOp));
                Fill(&op->Op);
                op->Definition = i;
                api.CustomOpDomainAdd(domain, op);
            }
            s_definitions = definitions;
            s_domain = domain;
            return domain;
        }
    }

    private static void Fill(OrtCustomOpStruct* op)
    {
        op->Version = OrtApi.Version;
        op->GetName = (void*)(delegate* unmanaged<RegisteredOp*, nint>)&GetName;
        op->GetExecutionProviderType = (void*)(delegate* unmanaged<RegisteredOp*, nint>)&GetExecutionProviderType;
        op->GetInputType = (void*)(delegate* unmanaged<RegisteredOp*, nuint, int>)&GetInputType;
        op->GetInputTypeCount = (void*)(delegate* unmanaged<RegisteredOp*, nuint>)&GetInputTypeCount;
        op->GetOutputType = (void*)(delegate* unmanaged<RegisteredOp*, nuint, int>)&GetOutputType;
        op->GetOutputTypeCount = (void*)(delegate* unmanaged<RegisteredOp*, nuint>)&GetOutputTypeCount;
        op->KernelDestroy = (void*)(delegate* unmanaged<nint, void>)&KernelDestroy;
        op->GetInputCharacteristic = (void*)(delegate* unmanaged<RegisteredOp*, nuint, int>)&GetInputCharacteristic;
        op->GetOutputCharacteristic = (void*)(delegate* unmanaged<RegisteredOp*, nuint, int>)&GetOutputCharacteristic;
        op->GetInputMemoryType = (void*)(delegate* unmanaged<RegisteredOp*, nuint, int>)&GetInputMemoryType;
        op->GetVariadicInputMinArity = (void*)(delegate* unmanaged<RegisteredOp*, int>)&VariadicMinArity;
        op->GetVariadicInputHomogeneity = (void*)(delegate* unmanaged<RegisteredOp*, int>)&VariadicHomogeneity;
        op->GetVariadicOutputMinArity = (void*)(delegate* unmanaged<RegisteredOp*, int>)&VariadicMinArity;
        op->GetVariadicOutputHomogeneity = (void*)(delegate* unmanaged<RegisteredOp*, int>)&VariadicHomogeneity;
        op->CreateKernelV2 = (void*)(delegate* unmanaged<RegisteredOp*, void**, nint, nint*, nint>)&CreateKernelV2;
        op->KernelComputeV2 = (void*)(delegate* unmanaged<nint, nint, nint>)&KernelComputeV2;
        op->GetStartVersion = (void*)(delegate* unmanaged<RegisteredOp*, int>)&GetStartVersion;
    }

    private static OpDefinition Def(RegisteredOp* op) => s_definitions![op->Definition];

    [UnmanagedCallersOnly]
    private static nint GetName(RegisteredOp* op) => Def(op).NativeName;

    /// <summary>Null: the CPU execution provider.</summary>
    [UnmanagedCallersOnly]
    private static nint GetExecutionProviderType(RegisteredOp* op) => 0;

    [UnmanagedCallersOnly]
    private static int GetInputType(RegisteredOp* op, nuint index)
    {
        var d = Def(op);
        return index < (nuint)d.Inputs.Length ? (int)d.Inputs[(int)index] : 0;
    }

    [UnmanagedCallersOnly]
    private static nuint GetInputTypeCount(RegisteredOp* op) => (nuint)Def(op).Inputs.Length;

    [UnmanagedCallersOnly]
    private static int GetOutputType(RegisteredOp* op, nuint index)
    {
        var d = Def(op);
        return index < (nuint)d.Outputs.Length ? (int)d.Outputs[(int)index] : 0;
    }

    [UnmanagedCallersOnly]
    private static nuint GetOutputTypeCount(RegisteredOp* op) => (nuint)Def(op).Outputs.Length;

    [UnmanagedCallersOnly]
    private static int GetInputCharacteristic(RegisteredOp* op, nuint index)
    {
        var d = Def(op);
        return index < (nuint)d.InputKinds.Length ? (int)d.InputKinds[(int)index] : 0;
    }

    [UnmanagedCallersOnly]
    private static int GetOutputCharacteristic(RegisteredOp* op, nuint index) => (int)IoCharacteristic.Required;

    /// <summary>OrtMemTypeDefault: inputs in the CPU provider's own memory.</summary>
    [UnmanagedCallersOnly]
    private static int GetInputMemoryType(RegisteredOp* op, nuint index) => 0;

    [UnmanagedCallersOnly]
    private static int VariadicMinArity(RegisteredOp* op) => 1;

    [UnmanagedCallersOnly]
    private static int VariadicHomogeneity(RegisteredOp* op) => 1;

    /// <summary>Opset version 1 of com.ternion and every later one.</summary>
    [UnmanagedCallersOnly]
    private static int GetStartVersion(RegisteredOp* op) => (int)TernaryOps.Version;

    [UnmanagedCallersOnly]
    private static nint CreateKernelV2(RegisteredOp* op, void** api, nint info, nint* kernel)
    {
        *kernel = 0;
        var ortApi = new OrtApi(api);
        var definition = s_definitions![op->Definition];
        string node = "";
        try
        {
            node = ortApi.NodeName(info);
            var instance = definition.Create(new KernelCreation(ortApi, info, node));
            *kernel = GCHandle.ToIntPtr(GCHandle.Alloc(instance));
            return 0;
        }
        catch (Exception e)
        {
            return ErrorStatus(ortApi, definition.Name, node, e);
        }
    }

    [UnmanagedCallersOnly]
    private static nint KernelComputeV2(nint kernel, nint context)
    {
        var instance = (OrtOpKernel)GCHandle.FromIntPtr(kernel).Target!;
        try
        {
            instance.Compute(context);
            return 0;
        }
        catch (Exception e)
        {
            return ErrorStatus(instance.Api, instance.OpType, instance.NodeName, e);
        }
    }

    [UnmanagedCallersOnly]
    private static void KernelDestroy(nint kernel)
    {
        if (kernel != 0) GCHandle.FromIntPtr(kernel).Free();
    }

    /// <summary>
    /// One line naming the op, the node and why. A <see cref="TernionException"/> is bad input
    /// (INVALID_ARGUMENT); anything else is our bug, reported with its type rather than crashing.
    /// </summary>
    internal static nint ErrorStatus(OrtApi api, string opType, string node, Exception e)
    {
        try
        {
            string who = $"{TernaryOps.Domain}::{opType} node '{node}'";
            return e is TernionException or OrtCallException
                ? api.CreateStatus(OrtErrorCode.InvalidArgument, $"{who}: {e.Message}")
                : api.CreateStatus(OrtErrorCode.RuntimeException, $"{who}: internal error {e.GetType().Name}: {e.Message}");
        }
        catch
        {
            return api.CreateStatus(OrtErrorCode.Fail, "com.ternion: error while reporting an error");
        }
    }
}
