import ArgumentParser
import SupervisorCore

/// The settings of `run` and `check`: one flag per setting of ``Settings`` (its name and help come from there), each
/// also a key of the config file; a flag wins over the file.
struct RunOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "A TOML config file whose keys are these options' names; reload reads it again.", valueName: "path"))
    var config: String?

    @Option(Settings.name) var name: String?
    @Option(Settings.instances) var instances: String?
    @Option(Settings.listen) var listen: [String] = []
    @Option(Settings.listenMode) var listenMode: String?
    @Option(Settings.kernelMigrate) var kernelMigrate: String?
    @Option(Settings.backlog) var backlog: String?
    @Option(Settings.receiveBuffer) var receiveBuffer: String?
    @Option(Settings.socketMode) var socketMode: String?
    @Option(Settings.socketUser) var socketUser: String?
    @Option(Settings.socketGroup) var socketGroup: String?
    @Option(Settings.ready) var ready: String?
    @Option(Settings.startNice) var startNice: String?
    @Option(Settings.startIdle) var startIdle: String?
    @Option(Settings.readyTimeout) var readyTimeout: String?
    @Option(Settings.adminPortBase) var adminPortBase: String?
    @Option(Settings.watchdogSec) var watchdogSec: String?
    @Option(Settings.liveness) var liveness: String?
    @Option(Settings.livenessInterval) var livenessInterval: String?
    @Option(Settings.livenessThreshold) var livenessThreshold: String?
    @Option(Settings.health) var health: String?
    @Option(Settings.minReady) var minReady: String?
    @Option(Settings.shutdownDelay) var shutdownDelay: String?
    @Option(Settings.stopSignal) var stopSignal: String?
    @Option(Settings.drainTimeout) var drainTimeout: String?
    @Option(Settings.stopPace) var stopPace: String?
    @Option(Settings.maxSurge) var maxSurge: String?
    @Option(Settings.bake) var bake: String?
    @Option(Settings.maxDraining) var maxDraining: String?
    @Option(Settings.release) var release: String?
    @Option(Settings.controlSocket) var controlSocket: String?
    @Option(Settings.controlGroup) var controlGroup: String?
    @Option(Settings.user) var user: String?
    @Option(Settings.group) var group: String?
    @Option(Settings.environment) var environment: [String] = []

    @Argument(
        parsing: .postTerminator,
        help: ArgumentHelp(Settings.command.helpWithDefault, valueName: Settings.command.valueName))
    var command: [String] = []

    /// What each flag gives its setting, `nil` for a flag not given; every setting has its place here.
    var flagInputs: [(setting: any AnySetting, input: SettingInput?)] {
        [
            (Settings.name, SettingInput(flag: name)),
            (Settings.instances, SettingInput(flag: instances)),
            (Settings.listen, SettingInput(flags: listen)),
            (Settings.listenMode, SettingInput(flag: listenMode)),
            (Settings.kernelMigrate, SettingInput(flag: kernelMigrate)),
            (Settings.backlog, SettingInput(flag: backlog)),
            (Settings.receiveBuffer, SettingInput(flag: receiveBuffer)),
            (Settings.socketMode, SettingInput(flag: socketMode)),
            (Settings.socketUser, SettingInput(flag: socketUser)),
            (Settings.socketGroup, SettingInput(flag: socketGroup)),
            (Settings.ready, SettingInput(flag: ready)),
            (Settings.startNice, SettingInput(flag: startNice)),
            (Settings.startIdle, SettingInput(flag: startIdle)),
            (Settings.readyTimeout, SettingInput(flag: readyTimeout)),
            (Settings.adminPortBase, SettingInput(flag: adminPortBase)),
            (Settings.watchdogSec, SettingInput(flag: watchdogSec)),
            (Settings.liveness, SettingInput(flag: liveness)),
            (Settings.livenessInterval, SettingInput(flag: livenessInterval)),
            (Settings.livenessThreshold, SettingInput(flag: livenessThreshold)),
            (Settings.health, SettingInput(flag: health)),
            (Settings.minReady, SettingInput(flag: minReady)),
            (Settings.shutdownDelay, SettingInput(flag: shutdownDelay)),
            (Settings.stopSignal, SettingInput(flag: stopSignal)),
            (Settings.drainTimeout, SettingInput(flag: drainTimeout)),
            (Settings.stopPace, SettingInput(flag: stopPace)),
            (Settings.maxSurge, SettingInput(flag: maxSurge)),
            (Settings.bake, SettingInput(flag: bake)),
            (Settings.maxDraining, SettingInput(flag: maxDraining)),
            (Settings.release, SettingInput(flag: release)),
            (Settings.controlSocket, SettingInput(flag: controlSocket)),
            (Settings.controlGroup, SettingInput(flag: controlGroup)),
            (Settings.user, SettingInput(flag: user)),
            (Settings.group, SettingInput(flag: group)),
            (Settings.environment, SettingInput(flags: environment)),
            (Settings.command, SettingInput(flags: command)),
        ]
    }

    /// The flags as a configuration layer that overrides the file.
    func layer() throws(ConfigurationError) -> ConfigurationLayer {
        var layer = ConfigurationLayer()
        for (setting, input) in flagInputs {
            if let input { try setting.read(input, from: .flag, into: &layer) }
        }
        return layer
    }

    /// The file and the flags, ready to be loaded now and again at each reload.
    func source(environment: [String: String]) throws(ConfigurationError) -> ConfigurationSource {
        ConfigurationSource(
            file: config, flags: try layer(), defaultInstances: SystemInfo.processorCount(),
            searchPath: environment["PATH"])
    }
}

extension Option where Value == String? {
    /// The flag of a setting: `--KEY`, with the setting's help and default.
    init(_ setting: some AnySetting) {
        self.init(
            name: .customLong(setting.flag ?? setting.key),
            help: ArgumentHelp(setting.helpWithDefault, valueName: setting.valueName))
    }
}

extension Option where Value == [String] {
    /// The repeatable flag of a setting.
    init(wrappedValue: [String], _ setting: some AnySetting) {
        self.init(
            wrappedValue: wrappedValue, name: .customLong(setting.flag ?? setting.key),
            help: ArgumentHelp(setting.helpWithDefault, valueName: setting.valueName))
    }
}
