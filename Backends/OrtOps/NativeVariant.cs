using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Ternion.Backends.Kernels;

namespace Ternion.Backends.OrtOps;

/// <summary>
/// Run-time dispatch for the NativeAOT library. NativeAOT fixes the instruction set at compile
/// time (an IsSupported check above the baseline compiles to false), so build-native.sh makes two
/// builds: Ternion.OrtOps.so for x86-64-v3 (AVX2, FMA), which every machine of this type has, and
/// avx512/Ternion.OrtOps.so for x86-64-v4 with VBMI. The first one's RegisterCustomOps hands the
/// registration to the second when the CPU has AVX-512 VBMI (and TERNION_ISA does not ask for
/// less). In the managed assembly the JIT sees the real CPU, so nothing is forwarded.
/// </summary>
internal static unsafe class NativeVariant
{
    private const string Folder = "avx512";
    private static readonly Lazy<nint> s_forward = new(Find);

    /// <summary>The RegisterCustomOps of the AVX-512 build when this build should hand over to it, else 0.</summary>
    public static nint Forward => s_forward.Value;

    private static nint Find()
    {
        if (RuntimeFeature.IsDynamicCodeSupported) return 0;              // JIT: the real CPU's paths are already in use
        if (GemvOptions.Avx512Available) return 0;                         // this is the AVX-512 build
        if (GemvOptions.Requested is { } r && r < GemvIsa.Avx512) return 0; // TERNION_ISA asks for AVX2 or scalar
        if (!CpuHasAvx512Vbmi()) return 0;
        string? self = OwnPath();
        if (self is null) return 0;
        string variant = Path.Combine(Path.GetDirectoryName(self)!, Folder, Path.GetFileName(self));
        if (!File.Exists(variant)) return 0;
        return NativeLibrary.TryLoad(variant, out var handle) && NativeLibrary.TryGetExport(handle, "RegisterCustomOps", out var entry) ? entry : 0;
    }

    /// <summary>From /proc/cpuinfo, whose flags the kernel clears for features the OS does not enable (the zmm state).</summary>
    private static bool CpuHasAvx512Vbmi()
    {
        try
        {
            var flags = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("flags", StringComparison.Ordinal));
            if (flags is null) return false;
            var set = flags[(flags.IndexOf(':') + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries).ToHashSet(StringComparer.Ordinal);
            return set.Contains("avx512f") && set.Contains("avx512bw") && set.Contains("avx512vbmi") && set.Contains("avx2") && set.Contains("fma");
        }
        catch (IOException) { return false; }
        catch (UnauthorizedAccessException) { return false; }
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct DlInfo
    {
        public nint FileName, FileBase, SymbolName, SymbolAddress;
    }

    [DllImport("libc", EntryPoint = "dladdr")]
    private static extern int DlAddr(nint address, out DlInfo info);

    /// <summary>The file this code was loaded from: dladdr of one of its own functions.</summary>
    private static string? OwnPath()
    {
        try
        {
            nint self = (nint)(delegate* unmanaged<nint, nint, nint>)&TernionCustomOps.RegisterCustomOps;
            return DlAddr(self, out var info) != 0 && info.FileName != 0 ? Marshal.PtrToStringUTF8(info.FileName) : null;
        }
        catch (DllNotFoundException) { return null; }
        catch (EntryPointNotFoundException) { return null; }
    }
}
