// Root build: plugin versions only. AGP 8.7 needs Gradle 8.9+ and a JDK 17+ to run Gradle
// (Android Studio's bundled JDK is fine); it supports compileSdk 35.
plugins {
    id("com.android.application") version "8.7.3" apply false
}
