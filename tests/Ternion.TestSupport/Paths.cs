namespace Ternion.TestSupport;

/// <summary>Locations the tests use: the repository root, the shared corpus, the vendored test data and scratch folders.</summary>
public static class Paths
{
    /// <summary>Environment variable naming the shared corpus when it is not ../shared beside the repository.</summary>
    public const string SharedVariable = "TERNION_SHARED";

    public static string RepoRoot { get; } = FindRepoRoot();

    /// <summary>
    /// The shared corpus (read-only conformance data and real models): $TERNION_SHARED when set,
    /// else ../shared beside the repository. A clone from a forge has neither; tests that need it
    /// are marked [SharedDataFact]/[SharedDataTheory] and skip with the reason.
    /// </summary>
    public static string Shared { get; } = Environment.GetEnvironmentVariable(SharedVariable) is { Length: > 0 } s
        ? Path.GetFullPath(s)
        : Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared"));

    public static string Conformance => Path.Combine(Shared, "conformance");
    public static string TestData => Path.Combine(RepoRoot, "testdata");

    /// <summary>
    /// The handful of ONNX node tests vendored in testdata/conformance, laid out like the shared
    /// corpus's conformance folder (onnx-node/, flexattention-elementwise/, meta/), so the same test
    /// code runs on either.
    /// </summary>
    public static string VendoredConformance => Path.Combine(TestData, "conformance");

    private static string FindRepoRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "Compiler.sln"))) return d.FullName;
        throw new InvalidOperationException("cannot find the repository root (Compiler.sln) above " + AppContext.BaseDirectory);
    }

    /// <summary>Every model file of the shared conformance data and real models, relative to the shared folder.</summary>
    public static IEnumerable<string> AllSharedModels()
    {
        var roots = new[] { Path.Combine(Shared, "conformance"), Path.Combine(Shared, "models") };
        return roots.Where(Directory.Exists)
            .SelectMany(r => Directory.EnumerateFiles(r, "*.onnx", SearchOption.AllDirectories))
            .Order(StringComparer.Ordinal);
    }
}

/// <summary>A temporary folder removed on dispose.</summary>
public sealed class TempDir : IDisposable
{
    public TempDir(string? prefix = null)
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"ternion-{prefix ?? "t"}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(Path);
    }
    public string Path { get; }
    public string File(string name) => System.IO.Path.Combine(Path, name);
    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
