/// Decides whether a notify datagram may speak for an instance.
///
/// The sender must run as the instance's user, and be the instance's process, its announced `MAINPID=`, or one of
/// their descendants (a process in the instance's session counts, so a helper forked and reparented still does).
/// Without credentials, or from a process that is already gone, nothing can be checked and the datagram is refused.
package struct NotifySender: Sendable {
    package let pid: Int32
    package let mainPID: Int32
    package let uid: UInt32

    package init(pid: Int32, mainPID: Int32, uid: UInt32) {
        self.pid = pid
        self.mainPID = mainPID
        self.uid = uid
    }

    /// `nil` when the datagram belongs to the instance, else why not.
    package func refusal(for datagram: NotifyDatagram, table: () -> ProcessTable) -> String? {
        guard let senderPID = datagram.senderPID, let senderUID = datagram.senderUID else {
            return "it carries no sender credentials"
        }
        guard senderUID == uid || senderUID == 0 else {
            return "it comes from uid \(senderUID), not \(uid)"
        }
        if senderPID == pid || senderPID == mainPID { return nil }
        guard let stat = ProcessStat.read(pid: senderPID) else {
            return "its sender (pid \(senderPID)) exited before it could be checked; send it from the instance itself"
        }
        if stat.session == pid { return nil }
        let processes = table()
        if processes.isDescendant(senderPID, of: pid) || processes.isDescendant(senderPID, of: mainPID) { return nil }
        return "its sender (pid \(senderPID), \(stat.command)) is not part of the instance"
    }
}
