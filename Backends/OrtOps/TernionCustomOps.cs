using System.Runtime.InteropServices;
using Ternion.Backends.Kernels.Ops;

namespace Ternion.Backends.OrtOps;

/// <summary>
/// Registers the com.ternion operators (TernaryDecode, TernaryMatMul, TernaryMatMulAbsmaxInt8)
/// with ONNX Runtime. In a .NET process that uses the NuGet package:
/// <code>
/// using var options = new SessionOptions();
/// TernionCustomOps.AddTo(options.DangerousGetHandle());
/// using var session = new InferenceSession("model-ort-ttf1.onnx", options);
/// </code>
/// From Python, C or C++, load the NativeAOT build of this assembly, which exports
/// <c>RegisterCustomOps</c>: <c>so.register_custom_ops_library("Ternion.OrtOps.so")</c>.
/// </summary>
public static unsafe class TernionCustomOps
{
    public const string Domain = TernaryOps.Domain;

    /// <summary>Adds the domain to an OrtSessionOptions (the native handle of a SessionOptions).</summary>
    public static void AddTo(nint sessionOptions)
    {
        if (sessionOptions == 0) throw new ArgumentException("the session options handle is null", nameof(sessionOptions));
        var api = LoadedRuntimeApi();
        nint domain = CustomOpRegistry.Domain(api);
        api.Check(api.AddCustomOpDomain(sessionOptions, domain), "AddCustomOpDomain");
    }

    /// <summary>
    /// The entry point ONNX Runtime looks up in a custom-op library (RegisterCustomOpsLibrary):
    /// <c>OrtStatus* RegisterCustomOps(OrtSessionOptions*, const OrtApiBase*)</c>. In the managed
    /// assembly it is an ordinary method; NativeAOT exports it from the shared library.
    /// </summary>
    [UnmanagedCallersOnly(EntryPoint = "RegisterCustomOps")]
    public static nint RegisterCustomOps(nint sessionOptions, nint apiBase)
    {
        nint avx512 = 0;
        try { avx512 = NativeVariant.Forward; }
        catch (Exception) { avx512 = 0; } // no AVX-512 build to hand over to: register this one
        if (avx512 != 0) return ((delegate* unmanaged<nint, nint, nint>)avx512)(sessionOptions, apiBase);
        var b = (OrtApiBase*)apiBase;
        void** table = b == null ? null : b->GetApi(OrtApi.Version);
        if (table == null) return 1; // no API of version 17 or later: ORT too old, and no way to build a status
        var api = new OrtApi(table);
        try
        {
            return api.AddCustomOpDomain(sessionOptions, CustomOpRegistry.Domain(api));
        }
        catch (Exception e)
        {
            return api.CreateStatus(OrtErrorCode.Fail, $"{Domain}: registering the custom operators failed: {e.Message}");
        }
    }

    private static OrtApi? s_loaded;

    /// <summary>The API of the ONNX Runtime this process already loaded (the NuGet package's libonnxruntime).</summary>
    private static OrtApi LoadedRuntimeApi()
    {
        if (s_loaded is { } api) return api;
        var b = OrtGetApiBase();
        void** table = b->GetApi(OrtApi.Version);
        if (table == null)
            throw new InvalidOperationException($"ONNX Runtime {Marshal.PtrToStringUTF8((nint)b->GetVersionString())} does not provide C API version {OrtApi.Version}");
        s_loaded = api = new OrtApi(table);
        return api;
    }

    [DllImport("onnxruntime", EntryPoint = "OrtGetApiBase")]
    private static extern OrtApiBase* OrtGetApiBase();
}
