using System.Diagnostics;

namespace NodeKeeper.TestSupport;

/// <summary>
/// Keeps the machine busy, as production machines are: one spinning node process per core, for as long as the test
/// runs. What must hold under load is tested under load.
/// </summary>
public sealed class BusyMachine : IAsyncDisposable
{
    private readonly List<Process> _loops = [];

    public BusyMachine()
    {
        for (var i = 0; i < Environment.ProcessorCount; i++)
        {
            var psi = new ProcessStartInfo("node", ["-e", "for (;;) {}"]) { UseShellExecute = false };
            _loops.Add(Process.Start(psi)!);
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var p in _loops)
        {
            // Our own children, by the Process objects we started.
            if (!p.HasExited) p.Kill();
            await p.WaitForExitAsync();
            p.Dispose();
        }
    }
}
