using Microsoft.Extensions.Logging.Abstractions;
using NodeKeeper.Core.Config;
using NodeKeeper.Daemon.Supervision;

namespace NodeKeeper.IntegrationTests;

/// <summary>
/// An app's instances are walked by the sampler, the health monitor, the file watcher and status on their own threads
/// while a reload swaps them and a scale resizes them. The list was changed in place: in CI the sampler's walk threw
/// "Collection was modified" during a reload under load, and the daemon ended (KeepAliveTests, reload exit 1).
/// </summary>
public sealed class AppRuntimeTests
{
    [Fact]
    public async Task A_walk_of_the_instances_sees_a_snapshot_while_a_reload_swaps_and_a_scale_resizes_them()
    {
        var dir = Directory.CreateTempSubdirectory("nk-app-");
        var retired = new List<InstanceRunner>();
        try
        {
            var ctx = new DaemonContext(dir.FullName, TimeProvider.System, NullLogger.Instance);
            var spec = new AppSpec
            {
                Name = "web", Script = Path.Combine(dir.FullName, "x.js"), Cwd = dir.FullName, Instances = 2,
                Log = new LogSpec(Path.Combine(dir.FullName, "out.log"), Path.Combine(dir.FullName, "err.log"), 10 << 20, 5, false),
            };
            await using var app = new AppRuntime(spec, null, ctx);
            var walked = new List<int>();

            foreach (var instance in app.Instances)
            {
                walked.Add(instance.Index);
                app.Swap(instance.Index, app.Replacement(instance.Index, instance)); // a reload's step
                retired.Add(instance);
                retired.AddRange(app.Scale(instance.Index == 0 ? 3 : 1).Removed); // a scale meanwhile
            }

            walked.Should().Equal([0, 1], "the walk goes over the instances as they were when it began");
            app.Instances.Select(i => i.Index).Should().Equal([0], "and the changes made meanwhile all took effect");
            app.Instances.Should().NotIntersectWith(retired);
        }
        finally
        {
            foreach (var r in retired) await r.DisposeAsync();
            dir.Delete(recursive: true);
        }
    }
}
