using System.Runtime.InteropServices;
using System.Text;

namespace Ternion.Backends.OrtOps;

/// <summary>OrtErrorCode of onnxruntime_c_api.h.</summary>
internal enum OrtErrorCode
{
    Ok = 0,
    Fail = 1,
    InvalidArgument = 2,
    RuntimeException = 6,
    NotImplemented = 9,
    InvalidGraph = 10,
}

/// <summary>OrtApiBase: the one symbol ONNX Runtime exports, and what RegisterCustomOps receives.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct OrtApiBase
{
    public delegate* unmanaged<uint, void**> GetApi;
    public delegate* unmanaged<byte*> GetVersionString;
}

/// <summary>
/// The OrtApi function table: a struct of function pointers that only ever grows at the end, so
/// an index never changes meaning. The indices used here were read from onnxruntime_c_api.h of
/// ONNX Runtime 1.31.1 (in the NuGet package, build/native/include), checked against the order
/// of the managed package's own OrtApi struct, and again against 1.32.0's header (the same
/// prefix, one function appended); every function used exists since API version 17.
/// </summary>
internal readonly unsafe struct OrtApi
{
    /// <summary>The API version asked for: 17 (ORT 1.17) has every function below and KernelContext_ParallelFor.</summary>
    public const uint Version = 17;

    private const int CreateStatusIndex = 0;
    private const int GetErrorMessageIndex = 2;
    private const int CreateCustomOpDomainIndex = 26;
    private const int CustomOpDomainAddIndex = 27;
    private const int AddCustomOpDomainIndex = 28;
    private const int GetTensorMutableDataIndex = 51;
    private const int GetTensorElementTypeIndex = 60;
    private const int GetDimensionsCountIndex = 61;
    private const int GetDimensionsIndex = 62;
    private const int GetTensorTypeAndShapeIndex = 65;
    private const int KernelInfoGetAttributeFloatIndex = 85;
    private const int KernelInfoGetAttributeInt64Index = 86;
    private const int KernelContextGetInputCountIndex = 88;
    private const int KernelContextGetInputIndex = 90;
    private const int KernelContextGetOutputIndex = 91;
    private const int ReleaseStatusIndex = 93;
    private const int ReleaseTensorTypeAndShapeInfoIndex = 99;
    private const int KernelInfoGetAttributeArrayInt64Index = 163;
    private const int KernelInfoGetInputCountIndex = 230;
    private const int KernelInfoGetInputNameIndex = 232;
    private const int KernelInfoGetNodeNameIndex = 244;
    private const int KernelInfoGetConstantInputTensorIndex = 249;
    private const int KernelContextParallelForIndex = 274;

    private readonly void** _table;

    public OrtApi(void** table) => _table = table;

    public bool IsNull => _table == null;
    public nint Pointer => (nint)_table;

    private void* F(int index) => _table[index];

    // ------------------------------------------------------------------ status

    public nint CreateStatus(OrtErrorCode code, string message)
    {
        // ORT copies the message; a NUL inside would cut it short, so none goes in.
        var bytes = Encoding.UTF8.GetBytes(message.Replace('\0', ' ') + "\0");
        fixed (byte* p = bytes)
            return ((delegate* unmanaged<int, byte*, nint>)F(CreateStatusIndex))((int)code, p);
    }

    /// <summary>Throws <see cref="OrtCallException"/> with the status's message (and releases it) unless it is success.</summary>
    public void Check(nint status, string what)
    {
        if (status == 0) return;
        string message = Marshal.PtrToStringUTF8(((delegate* unmanaged<nint, nint>)F(GetErrorMessageIndex))(status)) ?? "(no message)";
        ((delegate* unmanaged<nint, void>)F(ReleaseStatusIndex))(status);
        throw new OrtCallException($"{what}: {message}");
    }

    public void ReleaseStatus(nint status)
    {
        if (status != 0) ((delegate* unmanaged<nint, void>)F(ReleaseStatusIndex))(status);
    }

    // ------------------------------------------------------------------ registration

    public nint CreateCustomOpDomain(string domain)
    {
        var bytes = Encoding.UTF8.GetBytes(domain + "\0");
        nint result;
        fixed (byte* p = bytes)
            Check(((delegate* unmanaged<byte*, nint*, nint>)F(CreateCustomOpDomainIndex))(p, &result), "CreateCustomOpDomain");
        return result;
    }

    public void CustomOpDomainAdd(nint domain, void* op) =>
        Check(((delegate* unmanaged<nint, void*, nint>)F(CustomOpDomainAddIndex))(domain, op), "CustomOpDomain_Add");

    /// <summary>Returns ORT's status (0 on success) so that RegisterCustomOps can pass it on.</summary>
    public nint AddCustomOpDomain(nint sessionOptions, nint domain) =>
        ((delegate* unmanaged<nint, nint, nint>)F(AddCustomOpDomainIndex))(sessionOptions, domain);

    // ------------------------------------------------------------------ kernel info (at session creation)

    /// <summary>The attribute, or null when the node does not have it.</summary>
    public long? AttributeInt64(nint info, string name)
    {
        var bytes = Encoding.UTF8.GetBytes(name + "\0");
        long value;
        nint status;
        fixed (byte* p = bytes)
            status = ((delegate* unmanaged<nint, byte*, long*, nint>)F(KernelInfoGetAttributeInt64Index))(info, p, &value);
        if (status != 0) { ReleaseStatus(status); return null; }
        return value;
    }

    public float? AttributeFloat(nint info, string name)
    {
        var bytes = Encoding.UTF8.GetBytes(name + "\0");
        float value;
        nint status;
        fixed (byte* p = bytes)
            status = ((delegate* unmanaged<nint, byte*, float*, nint>)F(KernelInfoGetAttributeFloatIndex))(info, p, &value);
        if (status != 0) { ReleaseStatus(status); return null; }
        return value;
    }

    public long[]? AttributeInt64Array(nint info, string name)
    {
        var bytes = Encoding.UTF8.GetBytes(name + "\0");
        fixed (byte* p = bytes)
        {
            var fn = (delegate* unmanaged<nint, byte*, long*, nuint*, nint>)F(KernelInfoGetAttributeArrayInt64Index);
            nuint size = 0;
            nint status = fn(info, p, null, &size);
            if (status != 0) { ReleaseStatus(status); return null; }
            var values = new long[(int)size];
            fixed (long* v = values)
                Check(fn(info, p, v, &size), $"reading attribute '{name}'");
            return values;
        }
    }

    public string NodeName(nint info) => ReadString(F(KernelInfoGetNodeNameIndex), info, -1);

    public int InputCountAtCreation(nint info)
    {
        nuint n;
        Check(((delegate* unmanaged<nint, nuint*, nint>)F(KernelInfoGetInputCountIndex))(info, &n), "KernelInfo_GetInputCount");
        return (int)n;
    }

    public string InputName(nint info, int index) => ReadString(F(KernelInfoGetInputNameIndex), info, index);

    /// <summary>The input's value when it is a constant initializer, else 0.</summary>
    public nint ConstantInput(nint info, int index)
    {
        int isConstant = 0;
        nint value = 0;
        nint status = ((delegate* unmanaged<nint, nuint, int*, nint*, nint>)F(KernelInfoGetConstantInputTensorIndex))(info, (nuint)index, &isConstant, &value);
        if (status != 0) { ReleaseStatus(status); return 0; }
        return isConstant != 0 ? value : 0;
    }

    /// <summary>
    /// A string getter of the (info, [index,] out, size*) kind: first asked for the size, then
    /// filled. Names are for messages only, so a failure gives "" rather than an error.
    /// </summary>
    private string ReadString(void* fn, nint info, int index)
    {
        nuint size = 0;
        nint status = Get(fn, info, index, null, &size);
        if (status != 0) { ReleaseStatus(status); return ""; }
        if (size <= 1) return "";
        var buffer = new byte[(int)size];
        fixed (byte* b = buffer)
        {
            status = Get(fn, info, index, b, &size);
            if (status != 0) { ReleaseStatus(status); return ""; }
        }
        return Encoding.UTF8.GetString(buffer, 0, Math.Max(0, (int)size - 1));

        static nint Get(void* fn, nint info, int index, byte* output, nuint* size) => index < 0
            ? ((delegate* unmanaged<nint, byte*, nuint*, nint>)fn)(info, output, size)
            : ((delegate* unmanaged<nint, nuint, byte*, nuint*, nint>)fn)(info, (nuint)index, output, size);
    }

    // ------------------------------------------------------------------ kernel context (at run time)

    public int InputCount(nint context)
    {
        nuint n;
        Check(((delegate* unmanaged<nint, nuint*, nint>)F(KernelContextGetInputCountIndex))(context, &n), "KernelContext_GetInputCount");
        return (int)n;
    }

    /// <summary>The input value, or 0 for an omitted optional input.</summary>
    public nint Input(nint context, int index)
    {
        nint value;
        Check(((delegate* unmanaged<nint, nuint, nint*, nint>)F(KernelContextGetInputIndex))(context, (nuint)index, &value), "KernelContext_GetInput");
        return value;
    }

    public nint Output(nint context, int index, ReadOnlySpan<long> dims)
    {
        nint value;
        fixed (long* d = dims)
            Check(((delegate* unmanaged<nint, nuint, long*, nuint, nint*, nint>)F(KernelContextGetOutputIndex))(context, (nuint)index, d, (nuint)dims.Length, &value), "KernelContext_GetOutput");
        return value;
    }

    public void* TensorData(nint value)
    {
        void* data;
        Check(((delegate* unmanaged<nint, void**, nint>)F(GetTensorMutableDataIndex))(value, &data), "GetTensorMutableData");
        return data;
    }

    public (int ElementType, long[] Dims) TypeAndShape(nint value)
    {
        nint info;
        Check(((delegate* unmanaged<nint, nint*, nint>)F(GetTensorTypeAndShapeIndex))(value, &info), "GetTensorTypeAndShape");
        try
        {
            int type;
            Check(((delegate* unmanaged<nint, int*, nint>)F(GetTensorElementTypeIndex))(info, &type), "GetTensorElementType");
            nuint rank;
            Check(((delegate* unmanaged<nint, nuint*, nint>)F(GetDimensionsCountIndex))(info, &rank), "GetDimensionsCount");
            var dims = new long[(int)rank];
            fixed (long* d = dims)
                Check(((delegate* unmanaged<nint, long*, nuint, nint>)F(GetDimensionsIndex))(info, d, rank), "GetDimensions");
            return (type, dims);
        }
        finally
        {
            ((delegate* unmanaged<nint, void>)F(ReleaseTensorTypeAndShapeInfoIndex))(info);
        }
    }

    /// <summary>Runs fn(userData, i) for i in [0, total) on the session's intra-op threads.</summary>
    public void ParallelFor(nint context, delegate* unmanaged<void*, nuint, void> fn, int total, void* userData) =>
        Check(((delegate* unmanaged<nint, delegate* unmanaged<void*, nuint, void>, nuint, nuint, void*, nint>)F(KernelContextParallelForIndex))(
            context, fn, (nuint)total, 0, userData), "KernelContext_ParallelFor");
}

/// <summary>An ONNX Runtime function returned an error.</summary>
internal sealed class OrtCallException(string message) : Exception(message);
