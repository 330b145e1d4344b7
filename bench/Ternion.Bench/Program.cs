using BenchmarkDotNet.Running;

namespace Ternion.Bench;

/// <summary>Every benchmark class in this assembly, chosen on the command line (--filter, --list, --job ...).</summary>
public static class Program
{
    public static void Main(string[] args) => BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
}
