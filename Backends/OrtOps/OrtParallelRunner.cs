using System.Runtime.InteropServices;
using Ternion.Backends.Kernels.Ops;

namespace Ternion.Backends.OrtOps;

/// <summary>
/// Work items on the session's intra-op thread pool (KernelContext_ParallelFor). Exceptions are
/// caught on the worker (they must not unwind through ONNX Runtime's threads) and the first one
/// is rethrown on the calling thread once every item has run.
/// </summary>
internal sealed unsafe class OrtParallelRunner(OrtApi api, nint context) : IParallelRunner
{
    /// <summary>ORT does not say how many threads its pool has; its default is one per core, so size work for that.</summary>
    public int Degree { get; } = Environment.ProcessorCount;

    public void For(int count, Action<int> body)
    {
        if (count <= 0) return;
        if (count == 1)
        {
            body(0);
            return;
        }
        var job = new Job(body);
        var handle = GCHandle.Alloc(job);
        try
        {
            api.ParallelFor(context, &Run, count, (void*)GCHandle.ToIntPtr(handle));
        }
        finally
        {
            handle.Free();
        }
        if (job.Error is { } e) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(e);
    }

    private sealed class Job(Action<int> body)
    {
        public readonly Action<int> Body = body;
        public Exception? Error;
    }

    [UnmanagedCallersOnly]
    private static void Run(void* user, nuint index)
    {
        var job = (Job)GCHandle.FromIntPtr((nint)user).Target!;
        try
        {
            if (Volatile.Read(ref job.Error) is null) job.Body((int)index);
        }
        catch (Exception e)
        {
            Interlocked.CompareExchange(ref job.Error, e, null);
        }
    }
}
