namespace Ternion.TestSupport;

/// <summary>Locations the tests use: the repository root, ../shared next to it, and scratch folders.</summary>
public static class Paths
{
    public static string RepoRoot { get; } = FindRepoRoot();

    /// <summary>../shared beside the repository (read-only conformance data and real models).</summary>
    public static string Shared => Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared"));

    public static string Conformance => Path.Combine(Shared, "conformance");
    public static string TestData => Path.Combine(RepoRoot, "testdata");

    private static string FindRepoRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "Compiler.sln"))) return d.FullName;
        throw new InvalidOperationException("cannot find the repository root (Compiler.sln) above " + AppContext.BaseDirectory);
    }

    /// <summary>Every model file of the shared conformance data and real models, relative to ../shared.</summary>
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
