// The location-sharing switch as steps the shell carries out: which
// permissions to ask for, and whether the location service may run. The
// decisions live here so they are tested; the shell only maps the names to
// Android's permission strings and starts or stops its service.
package org.mailpresence.ui

/** The permissions sharing involves, by plain names (the shell maps them). */
enum class Permission { FINE_LOCATION, COARSE_LOCATION, NOTIFICATIONS }

/** What the shell does next for the sharing switch. */
sealed interface SharingAction {
    /** Ask for these, then hand the answer to [MyStatusState.permissionsAnswered]. */
    data class AskPermissions(val permissions: List<Permission>) : SharingAction

    /** Deliver location fixes to the core (a foreground location service). */
    data object StartLocationService : SharingAction

    /** No more fixes: stop the location service if it runs. */
    data object StopLocationService : SharingAction

    /** Nothing changes (the core refused the change; the screen says why). */
    data object Unchanged : SharingAction
}

object SharingPermissions {
    /** Asked together when sharing goes on: a place needs a location
     * permission, and the foreground service shows a notification. */
    val asked = listOf(Permission.FINE_LOCATION, Permission.COARSE_LOCATION, Permission.NOTIFICATIONS)

    /** Only a location permission lets the location service run: with
     * notifications alone, Android 14 refuses a location foreground service
     * (SecurityException) and no fix could arrive anyway. */
    fun allowLocationService(granted: Set<Permission>): Boolean =
        Permission.FINE_LOCATION in granted || Permission.COARSE_LOCATION in granted
}
